//! `sluice-operator` entry point. The controller lands with the operator issue.

fn main() -> std::process::ExitCode {
    eprintln!("sluice-operator: the controller is not implemented yet (see the Operator issue)");
    std::process::ExitCode::FAILURE
}
