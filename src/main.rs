fn main() {
    println!("layerwise");
}
