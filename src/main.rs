use clap::Parser;

fn main() {
    let cli = layerwise::cli::Cli::parse();
    if let Err(e) = layerwise::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
