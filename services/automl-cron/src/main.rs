//! `levibot-automl-cron`: runs the automl-cron service alone, as a Kubernetes pod does.
//! `levibot-automl-cron --help` lists the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    levibot_server::service_main(levibot_automl_cron::SERVICE, levibot_automl_cron::serve)
}
