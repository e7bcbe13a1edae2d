//! Prints a GGUF file's metadata (arrays abbreviated) and tensor directory.
//!
//! `cargo run -p reasoning-gguf --example gguf_dump -- FILE.gguf`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: gguf_dump FILE.gguf")?;
    let f = reasoning_gguf::GgufFile::open(&path)?;
    println!("version {}", f.version());
    for (k, v) in f.metadata() {
        match v {
            reasoning_gguf::Value::Array(a) => {
                println!("{k}: array[{}] first {:?}", a.len(), a.first())
            }
            reasoning_gguf::Value::String(s) if s.len() > 120 => {
                println!("{k}: {:?}...", &s[..120])
            }
            v => println!("{k}: {v:?}"),
        }
    }
    for t in f.tensors() {
        println!("{} {:?} {}", t.name, t.shape, t.ggml_type);
    }
    Ok(())
}
