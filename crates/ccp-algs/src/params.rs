//! Tunables: each algorithm lists its settings ([`Tunable`]) and can be built from
//! name → number pairs ([`Params`]), so a command line or a simulator scenario
//! (`params = { beta = 0.8 }`) can configure it without knowing its Rust type.

use std::collections::BTreeMap;

use thiserror::Error;

/// One setting of an algorithm, with its default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tunable {
    /// The name used in [`Params`].
    pub name: &'static str,
    /// Value used when the setting is not given.
    pub default: f64,
    /// What it does, with its unit.
    pub description: &'static str,
}

/// Settings by name. Numbers only (booleans as 0/1), because that is what scenario files
/// and command lines carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(BTreeMap<String, f64>);

impl Params {
    /// No settings: every tunable keeps its default.
    pub fn new() -> Params {
        Params::default()
    }

    /// Add or replace one setting (builder style).
    pub fn with(mut self, name: &str, value: f64) -> Params {
        self.0.insert(name.to_owned(), value);
        self
    }

    /// Add or replace one setting.
    pub fn set(&mut self, name: &str, value: f64) {
        self.0.insert(name.to_owned(), value);
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    /// Whether no setting is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The settings, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

impl FromIterator<(String, f64)> for Params {
    fn from_iter<T: IntoIterator<Item = (String, f64)>>(iter: T) -> Params {
        Params(iter.into_iter().collect())
    }
}

impl From<BTreeMap<String, f64>> for Params {
    fn from(m: BTreeMap<String, f64>) -> Params {
        Params(m)
    }
}

/// Why an algorithm could not be built from [`Params`].
#[derive(Clone, Debug, PartialEq, Error)]
pub enum ParamError {
    /// The algorithm has no setting of this name.
    #[error("algorithm `{alg}` has no parameter `{name}` (its parameters: {known})")]
    Unknown {
        /// Algorithm name.
        alg: String,
        /// The unknown name.
        name: String,
        /// The parameters it has, comma-separated (or "none").
        known: String,
    },
    /// The value is out of range.
    #[error("algorithm `{alg}`: parameter `{name}` = {value}: {reason}")]
    Invalid {
        /// Algorithm name.
        alg: String,
        /// Parameter name.
        name: String,
        /// The value given.
        value: f64,
        /// What is required.
        reason: String,
    },
}

/// Reads [`Params`] against an algorithm's [`Tunable`] list: unknown names are errors,
/// missing ones take their defaults, and each read states its valid range.
#[derive(Debug)]
pub struct ParamReader<'a> {
    alg: &'a str,
    tunables: &'a [Tunable],
    params: &'a Params,
}

impl<'a> ParamReader<'a> {
    /// Check that every name in `params` is one of `tunables`.
    pub fn new(
        alg: &'a str,
        tunables: &'a [Tunable],
        params: &'a Params,
    ) -> Result<ParamReader<'a>, ParamError> {
        for (name, _) in params.iter() {
            if !tunables.iter().any(|t| t.name == name) {
                let known: Vec<_> = tunables.iter().map(|t| t.name).collect();
                return Err(ParamError::Unknown {
                    alg: alg.to_owned(),
                    name: name.to_owned(),
                    known: if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        Ok(ParamReader {
            alg,
            tunables,
            params,
        })
    }

    fn raw(&self, name: &str) -> f64 {
        self.params.get(name).unwrap_or_else(|| {
            self.tunables
                .iter()
                .find(|t| t.name == name)
                .map_or(f64::NAN, |t| t.default)
        })
    }

    fn invalid(&self, name: &str, value: f64, reason: String) -> ParamError {
        ParamError::Invalid {
            alg: self.alg.to_owned(),
            name: name.to_owned(),
            value,
            reason,
        }
    }

    /// A number in `[lo, hi]` (finite).
    pub fn range(&self, name: &str, lo: f64, hi: f64) -> Result<f64, ParamError> {
        let v = self.raw(name);
        if v.is_finite() && v >= lo && v <= hi {
            Ok(v)
        } else {
            Err(self.invalid(name, v, format!("must be between {lo} and {hi}")))
        }
    }

    /// A number > `lo` and ≤ `hi` (finite).
    pub fn above(&self, name: &str, lo: f64, hi: f64) -> Result<f64, ParamError> {
        let v = self.raw(name);
        if v.is_finite() && v > lo && v <= hi {
            Ok(v)
        } else {
            Err(self.invalid(name, v, format!("must be > {lo} and ≤ {hi}")))
        }
    }

    /// A whole number in `[lo, hi]`.
    pub fn integer(&self, name: &str, lo: u64, hi: u64) -> Result<u64, ParamError> {
        let v = self.raw(name);
        if v.is_finite() && v.fract() == 0.0 && v >= lo as f64 && v <= hi as f64 {
            Ok(v as u64)
        } else {
            Err(self.invalid(name, v, format!("must be a whole number in {lo}..={hi}")))
        }
    }

    /// A whole number in `[lo, hi]`, where 0 means "not set" (`None`).
    pub fn optional_integer(
        &self,
        name: &str,
        lo: u64,
        hi: u64,
    ) -> Result<Option<u64>, ParamError> {
        let v = self.raw(name);
        if v == 0.0 {
            return Ok(None);
        }
        self.integer(name, lo, hi).map(Some)
    }

    /// 0 or 1.
    pub fn flag(&self, name: &str) -> Result<bool, ParamError> {
        let v = self.raw(name);
        if v == 0.0 || v == 1.0 {
            Ok(v == 1.0)
        } else {
            Err(self.invalid(name, v, "must be 0 or 1".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[Tunable] = &[
        Tunable {
            name: "beta",
            default: 0.7,
            description: "",
        },
        Tunable {
            name: "n",
            default: 3.0,
            description: "",
        },
        Tunable {
            name: "on",
            default: 1.0,
            description: "",
        },
    ];

    #[test]
    fn defaults_overrides_unknown_names_and_ranges() {
        let p = Params::new();
        let r = ParamReader::new("x", T, &p).unwrap();
        assert_eq!(r.range("beta", 0.0, 1.0).unwrap(), 0.7);
        assert_eq!(r.integer("n", 1, 10).unwrap(), 3);
        assert!(r.flag("on").unwrap());

        let p = Params::new()
            .with("beta", 0.5)
            .with("n", 2.5)
            .with("on", 2.0);
        let r = ParamReader::new("x", T, &p).unwrap();
        assert_eq!(r.range("beta", 0.0, 1.0).unwrap(), 0.5);
        assert!(r.above("beta", 0.5, 1.0).is_err());
        assert!(matches!(
            r.integer("n", 1, 10),
            Err(ParamError::Invalid { value, .. }) if value == 2.5
        ));
        assert!(r.flag("on").is_err());

        let p = Params::new().with("gamma", 1.0);
        let e = ParamReader::new("x", T, &p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "algorithm `x` has no parameter `gamma` (its parameters: beta, n, on)"
        );
        let e = ParamReader::new("y", &[], &p).unwrap_err();
        assert!(e.to_string().contains("(its parameters: none)"), "{e}");

        let p = Params::new().with("n", 0.0);
        let r = ParamReader::new("x", T, &p).unwrap();
        assert_eq!(r.optional_integer("n", 1, 10).unwrap(), None);
        let p = Params::new().with("n", f64::NAN);
        let r = ParamReader::new("x", T, &p).unwrap();
        assert!(r.range("n", 0.0, 10.0).is_err());
    }
}
