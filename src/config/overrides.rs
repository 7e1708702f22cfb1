//! `--set key=value` overrides: a dotted key into the config's TOML tree, the value parsed as TOML.

use super::*;

impl Config {
    /// Apply `key=value` overrides (value parsed as TOML, else taken as a string), then re-validate.
    pub fn with_overrides(&self, sets: &[String]) -> Result<Config> {
        if sets.is_empty() {
            return Ok(self.clone());
        }
        let mut value = toml::Value::try_from(self).expect("config serialises");
        for s in sets {
            let (key, raw) =
                s.split_once('=').ok_or_else(|| Error::usage(format!("--set `{s}`: expected key=value")))?;
            let parsed = parse_value(raw.trim());
            set_path(&mut value, key.trim(), parsed).map_err(|e| Error::usage(format!("--set `{s}`: {e}")))?;
        }
        let cfg: Config = value.try_into().map_err(|e: toml::de::Error| Error::usage(format!("--set: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn parse_value(raw: &str) -> toml::Value {
    // Parse as the right-hand side of a TOML assignment; bare words become strings.
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(root: &mut toml::Value, key: &str, value: toml::Value) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        cur = match cur {
            toml::Value::Table(t) => {
                if last {
                    t.insert(part.to_string(), value);
                    return Ok(());
                }
                t.entry(part.to_string()).or_insert_with(|| toml::Value::Table(Default::default()))
            }
            toml::Value::Array(a) => {
                let idx: usize = part.parse().map_err(|_| format!("`{part}` is not an index"))?;
                let len = a.len();
                let slot = a.get_mut(idx).ok_or_else(|| format!("index {idx} out of range (length {len})"))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => return Err(format!("`{}` is not a table", parts[..i].join("."))),
        };
    }
    Ok(())
}
