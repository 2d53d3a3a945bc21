//! Fuzzes configuration loading: arbitrary text must give a configuration or errors,
//! never a panic, and a loaded configuration must answer rule selection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tastevin::config::Config;
use tastevin::image_ref::ImageRef;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_yaml(text) {
        Ok(config) => {
            for raw in ["nginx", "registry.k8s.io/pause:3.9", "ghcr.io/a/b:c"] {
                if let Ok(image) = ImageRef::parse(raw) {
                    let _ = config.select(&image);
                    let _ = tastevin::policy::explain(&config, &image);
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in errors {
                let _ = error.to_string();
            }
        }
    }
});
