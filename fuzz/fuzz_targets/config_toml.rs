//! Fuzzes the configuration loader (`tandem::run::config::Config::from_toml`): TOML syntax,
//! unknown keys, values and the relations between keys. No input may panic; a refused file is
//! one typed error that prints as one line; a loaded one yields the runtime's configuration.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::run::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml(text) {
        Ok(config) => {
            let _ = config.media.runtime_config();
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
});
