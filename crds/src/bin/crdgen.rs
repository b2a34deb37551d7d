//! Prints the StreamJob CRD YAML, or writes it with `--write PATH`, or fails with `--check PATH` when the
//! committed file differs from what the types generate (the CI drift check).

use std::process::ExitCode;

fn main() -> ExitCode {
    let yaml = match sluice_crds::crd_yaml() {
        Ok(y) => y,
        Err(e) => {
            eprintln!("crdgen: rendering the CRD failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        [flag, path] if flag == "--write" => match std::fs::write(path, &yaml) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("crdgen: writing {path}: {e}");
                ExitCode::FAILURE
            }
        },
        [flag, path] if flag == "--check" => match std::fs::read_to_string(path) {
            Ok(committed) if committed == yaml => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!(
                    "crdgen: {path} is out of date with the StreamJob types; run `cargo run -p sluice-crds --bin crdgen -- --write {path}` and commit it"
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("crdgen: reading {path}: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: crdgen [--write PATH | --check PATH]");
            ExitCode::from(2)
        }
    }
}
