//! `levibot-health-aggregator`: runs the health-aggregator service alone, as a Kubernetes pod does.
//! `levibot-health-aggregator --help` lists the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    levibot_server::service_main(
        levibot_health_aggregator::SERVICE,
        levibot_health_aggregator::serve,
    )
}
