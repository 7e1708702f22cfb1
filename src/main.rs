use clap::Parser;

fn main() {
    let cli = layerwise::cli::Cli::parse();
    if let Err(e) = layerwise::cli::run(cli) {
        match e {
            // Not a failure: the run did what it was asked.
            layerwise::Error::Stopped(_) => eprintln!("{e}"),
            _ => eprintln!("error: {e}"),
        }
        std::process::exit(e.exit_code());
    }
}
