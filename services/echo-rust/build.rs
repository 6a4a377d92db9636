//! Link the system's libsecp256k1 and OpenSSL libcrypto, found with pkg-config when available.
use std::process::Command;

const LIBRARIES: [(&str, &str, &str); 2] = [
    ("libsecp256k1", "secp256k1", "libsecp256k1-dev"),
    ("libcrypto", "crypto", "libssl-dev"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    for (module, library, debian_package) in LIBRARIES {
        match Command::new("pkg-config").args(["--libs-only-L", module]).output() {
            Ok(output) if output.status.success() => {
                let flags = String::from_utf8_lossy(&output.stdout);
                for flag in flags.split_whitespace() {
                    if let Some(dir) = flag.strip_prefix("-L") {
                        println!("cargo:rustc-link-search=native={dir}");
                    }
                }
            }
            Ok(_) => panic!(
                "pkg-config cannot find {module}; install it (Debian: apt-get install {debian_package})"
            ),
            // No pkg-config: rely on the default linker search path.
            Err(_) => {}
        }
        println!("cargo:rustc-link-lib={library}");
    }
}
