use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::client_order_id::ClientOrderId;
use crate::id::FillId;
use crate::money::Money;
use crate::price::Price;
use crate::quantity::Quantity;
use crate::side::Side;
use crate::symbol::Symbol;
use crate::timestamp::TimestampMs;

/// Maximum length of a fee asset code.
pub const MAX_FEE_ASSET_LEN: usize = 16;

/// Error returned when fill fields do not form a valid [`Fill`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FillError {
    /// The filled quantity was zero.
    #[error("fill quantity must be positive, got {0}")]
    QuantityNotPositive(Quantity),
    /// The fee asset was not 1 to 16 uppercase ASCII letters or digits.
    #[error("fee asset must be 1 to {MAX_FEE_ASSET_LEN} uppercase letters or digits, got {0:?}")]
    InvalidFeeAsset(String),
    /// `price * quantity` does not fit in a decimal.
    #[error("fill notional overflows: {price} x {quantity}")]
    NotionalOverflow {
        /// The fill price.
        price: Price,
        /// The fill quantity.
        quantity: Quantity,
    },
}

/// The fields of a [`Fill`], before validation.
///
/// Build one of these and pass it to [`Fill::new`]; it is also the serde wire
/// form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillParts {
    /// Our id for this fill.
    pub fill_id: FillId,
    /// The order this fill belongs to.
    pub client_order_id: ClientOrderId,
    /// The traded symbol.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Execution price.
    pub price: Price,
    /// Executed quantity in base asset; must be positive.
    pub quantity: Quantity,
    /// Commission charged; negative for rebates.
    pub fee: Money,
    /// Asset the fee is charged in, e.g. `"USDT"` or `"BNB"`.
    pub fee_asset: String,
    /// Whether we were the maker (resting) side.
    pub is_maker: bool,
    /// When the exchange executed the trade.
    pub exchange_time: TimestampMs,
    /// When we received the execution report.
    pub receive_time: TimestampMs,
}

/// One execution of (part of) an order.
///
/// The quantity is positive, the fee asset is 1 to 16 uppercase ASCII letters
/// or digits, and `price * quantity` fits in a decimal; checked by
/// [`Fill::new`] and on deserialization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FillParts", into = "FillParts")]
pub struct Fill(FillParts);

impl TryFrom<FillParts> for Fill {
    type Error = FillError;

    fn try_from(parts: FillParts) -> Result<Self, Self::Error> {
        Self::new(parts)
    }
}

impl From<Fill> for FillParts {
    fn from(fill: Fill) -> Self {
        fill.0
    }
}

impl Fill {
    /// Validates and builds a fill.
    ///
    /// # Errors
    ///
    /// Returns [`FillError`] if the quantity is zero, the fee asset is not
    /// 1 to 16 uppercase ASCII letters or digits, or the notional overflows.
    pub fn new(parts: FillParts) -> Result<Self, FillError> {
        if parts.quantity.is_zero() {
            return Err(FillError::QuantityNotPositive(parts.quantity));
        }
        let asset_ok = (1..=MAX_FEE_ASSET_LEN).contains(&parts.fee_asset.len())
            && parts
                .fee_asset
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !asset_ok {
            return Err(FillError::InvalidFeeAsset(parts.fee_asset));
        }
        if parts
            .price
            .value()
            .checked_mul(parts.quantity.value())
            .is_none()
        {
            return Err(FillError::NotionalOverflow {
                price: parts.price,
                quantity: parts.quantity,
            });
        }
        Ok(Self(parts))
    }

    /// Our id for this fill.
    #[must_use]
    pub const fn fill_id(&self) -> FillId {
        self.0.fill_id
    }

    /// The order this fill belongs to.
    #[must_use]
    pub const fn client_order_id(&self) -> &ClientOrderId {
        &self.0.client_order_id
    }

    /// The traded symbol.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.0.symbol
    }

    /// Buy or sell.
    #[must_use]
    pub const fn side(&self) -> Side {
        self.0.side
    }

    /// Execution price.
    #[must_use]
    pub const fn price(&self) -> Price {
        self.0.price
    }

    /// Executed quantity in base asset; always positive.
    #[must_use]
    pub const fn quantity(&self) -> Quantity {
        self.0.quantity
    }

    /// Commission charged; negative for rebates.
    #[must_use]
    pub const fn fee(&self) -> Money {
        self.0.fee
    }

    /// Asset the fee is charged in.
    #[must_use]
    pub fn fee_asset(&self) -> &str {
        &self.0.fee_asset
    }

    /// Whether we were the maker side.
    #[must_use]
    pub const fn is_maker(&self) -> bool {
        self.0.is_maker
    }

    /// When the exchange executed the trade.
    #[must_use]
    pub const fn exchange_time(&self) -> TimestampMs {
        self.0.exchange_time
    }

    /// When we received the execution report.
    #[must_use]
    pub const fn receive_time(&self) -> TimestampMs {
        self.0.receive_time
    }

    /// `price * quantity`, in quote asset.
    #[must_use]
    pub fn notional(&self) -> Decimal {
        // the constructor checked that this multiplication does not overflow
        self.0
            .price
            .value()
            .checked_mul(self.0.quantity.value())
            .unwrap_or(Decimal::MAX)
    }

    /// Gives back the validated fields.
    #[must_use]
    pub fn into_parts(self) -> FillParts {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn parts() -> FillParts {
        FillParts {
            fill_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap(),
            client_order_id: ClientOrderId::new("levi-1").unwrap(),
            symbol: Symbol::new("BTCUSDT").unwrap(),
            side: Side::Sell,
            price: Price::new(dec!(65000.5)).unwrap(),
            quantity: Quantity::new(dec!(0.002)).unwrap(),
            fee: Money::new(dec!(0.13)),
            fee_asset: "USDT".to_owned(),
            is_maker: true,
            exchange_time: TimestampMs::new(1_700_000_000_000),
            receive_time: TimestampMs::new(1_700_000_000_015),
        }
    }

    #[test]
    fn valid_fill_and_getters() {
        let f = Fill::new(parts()).unwrap();
        assert_eq!(f.fill_id().to_string(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(f.client_order_id().as_str(), "levi-1");
        assert_eq!(f.symbol().as_str(), "BTCUSDT");
        assert_eq!(f.side(), Side::Sell);
        assert_eq!(f.price().value(), dec!(65000.5));
        assert_eq!(f.quantity().value(), dec!(0.002));
        assert_eq!(f.fee().value(), dec!(0.13));
        assert_eq!(f.fee_asset(), "USDT");
        assert!(f.is_maker());
        assert_eq!(f.exchange_time().as_i64(), 1_700_000_000_000);
        assert_eq!(f.receive_time().as_i64(), 1_700_000_000_015);
        assert_eq!(f.notional(), dec!(130.001));
        assert_eq!(f.into_parts(), parts());
    }

    #[rstest]
    #[case("USDT")]
    #[case("BNB")]
    #[case("1000SHIB")]
    #[case("A")]
    #[case("ABCDEFGHIJKLMNOP")]
    fn valid_fee_assets(#[case] asset: &str) {
        let f = Fill::new(FillParts {
            fee_asset: asset.to_owned(),
            ..parts()
        })
        .unwrap();
        assert_eq!(f.fee_asset(), asset);
    }

    #[rstest]
    #[case("")]
    #[case("usdt")]
    #[case("Usdt")]
    #[case("US DT")]
    #[case("USDT-")]
    #[case("ABCDEFGHIJKLMNOPQ")]
    #[case("ÜSDT")]
    fn invalid_fee_assets(#[case] asset: &str) {
        let err = Fill::new(FillParts {
            fee_asset: asset.to_owned(),
            ..parts()
        })
        .unwrap_err();
        assert_eq!(err, FillError::InvalidFeeAsset(asset.to_owned()));
        assert_eq!(
            err.to_string(),
            format!("fee asset must be 1 to 16 uppercase letters or digits, got {asset:?}")
        );
    }

    #[test]
    fn zero_quantity_is_rejected() {
        let err = Fill::new(FillParts {
            quantity: Quantity::ZERO,
            ..parts()
        })
        .unwrap_err();
        assert_eq!(err, FillError::QuantityNotPositive(Quantity::ZERO));
        assert_eq!(err.to_string(), "fill quantity must be positive, got 0");
    }

    #[test]
    fn notional_overflow_is_rejected() {
        let err = Fill::new(FillParts {
            price: Price::new(Decimal::MAX).unwrap(),
            quantity: Quantity::new(dec!(2)).unwrap(),
            ..parts()
        })
        .unwrap_err();
        assert!(matches!(err, FillError::NotionalOverflow { .. }), "{err}");
    }

    #[rstest]
    #[case(dec!(0.13))]
    #[case(dec!(0))]
    #[case(dec!(-0.05))]
    fn fee_may_be_any_sign(#[case] fee: Decimal) {
        let f = Fill::new(FillParts {
            fee: Money::new(fee),
            ..parts()
        })
        .unwrap();
        assert_eq!(f.fee().value(), fee);
    }

    #[test]
    fn serde_round_trip() {
        let f = Fill::new(parts()).unwrap();
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            json,
            r#"{"fill_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","client_order_id":"levi-1","symbol":"BTCUSDT","side":"SELL","price":"65000.5","quantity":"0.002","fee":"0.13","fee_asset":"USDT","is_maker":true,"exchange_time":1700000000000,"receive_time":1700000000015}"#
        );
        assert_eq!(serde_json::from_str::<Fill>(&json).unwrap(), f);
    }

    #[rstest]
    #[case::zero_quantity(r#""quantity":"0""#, r#""USDT""#, "fill quantity must be positive")]
    #[case::lowercase_asset(r#""quantity":"1""#, r#""usdt""#, "fee asset must be")]
    #[case::empty_asset(r#""quantity":"1""#, r#""""#, "fee asset must be")]
    #[case::negative_quantity(r#""quantity":"-1""#, r#""USDT""#, "quantity must not be negative")]
    fn serde_rejects_invalid(#[case] qty: &str, #[case] asset: &str, #[case] msg: &str) {
        let json = format!(
            r#"{{"fill_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","client_order_id":"levi-1","symbol":"BTCUSDT","side":"SELL","price":"1",{qty},"fee":"0","fee_asset":{asset},"is_maker":false,"exchange_time":0,"receive_time":0}}"#
        );
        let err = serde_json::from_str::<Fill>(&json).unwrap_err().to_string();
        assert!(err.contains(msg), "{err}");
    }
}
