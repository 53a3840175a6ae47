//! placeholder until written
/// x
#[derive(Debug)]
pub struct ConversionError;
