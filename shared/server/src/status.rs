use tonic::Status;

/// `UNIMPLEMENTED` for an RPC of the contract whose implementation has not landed yet, naming
/// the RPC and the piece of work that brings it. Callers must treat it as "no answer", never as
/// an empty result.
pub fn not_available_yet(rpc: &str, arrives_with: &str) -> Status {
    Status::unimplemented(format!(
        "{rpc} is not available yet: it arrives with {arrives_with}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_rpc_and_the_work() {
        let status = not_available_yet("levibot.v1.PortfolioService/GetSummary", "the portfolio");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.message().contains("PortfolioService/GetSummary"));
        assert!(status.message().contains("the portfolio"));
    }
}
