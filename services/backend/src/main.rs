//! `levibot-backend`: runs the backend service alone, as a Kubernetes pod does.
//! `levibot-backend --help` lists the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    levibot_server::service_main(levibot_backend::SERVICE, levibot_backend::serve)
}
