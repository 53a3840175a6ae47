//! A model's (or a rule's) view of the next move, validated.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use levibot_core::Side;

use crate::data_quality::DataQuality;

/// Longest accepted [`Prediction::source`] name, in bytes.
pub const MAX_SOURCE_LEN: usize = 64;

/// Why a [`Prediction`] could not be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PredictionError {
    /// `probability_up` was NaN, infinite or outside `[0, 1]`.
    #[error("probability_up must be a number in [0, 1], got {0}")]
    Probability(f64),
    /// `confidence` was NaN, infinite or outside `[0, 1]`.
    #[error("confidence must be a number in [0, 1], got {0}")]
    Confidence(f64),
    /// The payoff ratio was NaN, infinite, zero or negative.
    #[error("payoff ratio must be a finite number above 0, got {0}")]
    PayoffRatio(f64),
    /// The source name was empty or longer than [`MAX_SOURCE_LEN`].
    #[error("source name must be 1 to {MAX_SOURCE_LEN} bytes, got {0:?}")]
    Source(String),
}

/// The probability of an up move over the predictor's horizon, with its confidence, who said
/// so, and what the predictor thinks of its own inputs.
///
/// Floats are fine here: these are model outputs, dimensionless. Every constructor (and
/// deserialization) checks that both numbers are finite and in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PredictionFields")]
pub struct Prediction {
    probability_up: f64,
    confidence: f64,
    source: String,
    data_quality: DataQuality,
    payoff_ratio: Option<f64>,
}

/// Unvalidated wire form of [`Prediction`].
#[derive(Deserialize)]
struct PredictionFields {
    probability_up: f64,
    confidence: f64,
    source: String,
    data_quality: DataQuality,
    #[serde(default)]
    payoff_ratio: Option<f64>,
}

impl TryFrom<PredictionFields> for Prediction {
    type Error = PredictionError;

    fn try_from(f: PredictionFields) -> Result<Self, Self::Error> {
        let p = Self::new(f.probability_up, f.confidence, f.source, f.data_quality)?;
        match f.payoff_ratio {
            Some(b) => p.with_payoff_ratio(b),
            None => Ok(p),
        }
    }
}

fn unit_interval(x: f64) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

impl Prediction {
    /// Validates and builds a prediction without a payoff ratio (the risk manager then
    /// assumes 1: the average win equals the average loss).
    ///
    /// # Errors
    ///
    /// [`PredictionError`] if a number is NaN, infinite or outside `[0, 1]`, or the source
    /// name is empty or too long.
    pub fn new(
        probability_up: f64,
        confidence: f64,
        source: impl Into<String>,
        data_quality: DataQuality,
    ) -> Result<Self, PredictionError> {
        if !unit_interval(probability_up) {
            return Err(PredictionError::Probability(probability_up));
        }
        if !unit_interval(confidence) {
            return Err(PredictionError::Confidence(confidence));
        }
        let source = source.into();
        if source.is_empty() || source.len() > MAX_SOURCE_LEN {
            return Err(PredictionError::Source(source));
        }
        Ok(Self {
            probability_up,
            confidence,
            source,
            data_quality,
            payoff_ratio: None,
        })
    }

    /// Sets the expected payoff ratio `b` (average win / average loss) used by Kelly sizing.
    ///
    /// # Errors
    ///
    /// [`PredictionError::PayoffRatio`] unless `b` is finite and above 0.
    pub fn with_payoff_ratio(mut self, b: f64) -> Result<Self, PredictionError> {
        if !(b.is_finite() && b > 0.0) {
            return Err(PredictionError::PayoffRatio(b));
        }
        self.payoff_ratio = Some(b);
        Ok(self)
    }

    /// The probability that the price goes up over the horizon, in `[0, 1]`.
    #[must_use]
    pub const fn probability_up(&self) -> f64 {
        self.probability_up
    }

    /// How much the predictor trusts itself, in `[0, 1]`; scales the position size.
    #[must_use]
    pub const fn confidence(&self) -> f64 {
        self.confidence
    }

    /// The strategy or model that produced it, e.g. `"ema_cross_9_21"` or `"ensemble@v12"`.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The predictor's verdict on its inputs.
    #[must_use]
    pub const fn data_quality(&self) -> DataQuality {
        self.data_quality
    }

    /// The expected payoff ratio, if the predictor gave one.
    #[must_use]
    pub const fn payoff_ratio(&self) -> Option<f64> {
        self.payoff_ratio
    }

    /// The side this prediction argues for: BUY above 0.5, SELL below, none at exactly 0.5.
    #[must_use]
    pub fn side(&self) -> Option<Side> {
        if self.probability_up > 0.5 {
            Some(Side::Buy)
        } else if self.probability_up < 0.5 {
            Some(Side::Sell)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0.0, 0.0)]
    #[case(1.0, 1.0)]
    #[case(0.55, 0.7)]
    fn accepts_unit_interval(#[case] p: f64, #[case] c: f64) {
        let pr = Prediction::new(p, c, "m", DataQuality::Ok).unwrap();
        assert!((pr.probability_up() - p).abs() < 1e-12);
        assert!((pr.confidence() - c).abs() < 1e-12);
        assert_eq!(pr.payoff_ratio(), None);
    }

    #[rstest]
    #[case(f64::NAN, 0.5, "probability_up")]
    #[case(-0.01, 0.5, "probability_up")]
    #[case(1.01, 0.5, "probability_up")]
    #[case(f64::INFINITY, 0.5, "probability_up")]
    #[case(0.5, f64::NAN, "confidence")]
    #[case(0.5, -1.0, "confidence")]
    #[case(0.5, 2.0, "confidence")]
    fn rejects_bad_numbers(#[case] p: f64, #[case] c: f64, #[case] what: &str) {
        let err = Prediction::new(p, c, "m", DataQuality::Ok).unwrap_err();
        assert!(err.to_string().starts_with(what), "{err}");
    }

    #[rstest]
    #[case(0.0)]
    #[case(-1.0)]
    #[case(f64::NAN)]
    #[case(f64::INFINITY)]
    fn rejects_bad_payoff(#[case] b: f64) {
        let p = Prediction::new(0.6, 0.5, "m", DataQuality::Ok).unwrap();
        assert!(matches!(
            p.with_payoff_ratio(b),
            Err(PredictionError::PayoffRatio(_))
        ));
    }

    #[test]
    fn rejects_bad_source() {
        assert!(Prediction::new(0.6, 0.5, "", DataQuality::Ok).is_err());
        assert!(Prediction::new(0.6, 0.5, "x".repeat(65), DataQuality::Ok).is_err());
    }

    #[rstest]
    #[case(0.51, Some(Side::Buy))]
    #[case(0.49, Some(Side::Sell))]
    #[case(0.5, None)]
    fn side_follows_probability(#[case] p: f64, #[case] side: Option<Side>) {
        let pr = Prediction::new(p, 0.5, "m", DataQuality::Ok).unwrap();
        assert_eq!(pr.side(), side);
    }

    #[test]
    fn serde_round_trip_validates() {
        let p = Prediction::new(0.6, 0.8, "ema", DataQuality::Stale)
            .unwrap()
            .with_payoff_ratio(1.5)
            .unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"probability_up":0.6,"confidence":0.8,"source":"ema","data_quality":"stale","payoff_ratio":1.5}"#
        );
        assert_eq!(serde_json::from_str::<Prediction>(&json).unwrap(), p);
        let bad = r#"{"probability_up":1.6,"confidence":0.8,"source":"ema","data_quality":"ok"}"#;
        assert!(serde_json::from_str::<Prediction>(bad).is_err());
    }
}
