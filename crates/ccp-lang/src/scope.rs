//! The names of a compiled program and the registers they live in.
//!
//! The agent uses a [`Scope`] to decode reports by name (report variables in index
//! order), and to build UPDATE_FIELDS / CHANGE_PROG records
//! ([`Scope::update_target`]).

use crate::bytecode::{DATAPATH_INFINITY, DEF_INFINITY_SENTINEL, Operand, RegKind, ValType};
use crate::bytecode::{implicit, primitive};
use std::sync::LazyLock;
use thiserror::Error;

/// Which register file a name lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VarClass {
    /// Report variable (sent to the agent on `(report)`).
    Report,
    /// Control variable (per-connection state, not reported).
    Control,
    /// Local variable (first assigned in a `when` body without a declaration).
    Local,
    /// Read-only per-ACK primitive (`Ack.*`, `Flow.*`).
    Primitive,
    /// Implicit register visible to programs: `Micros`, `Cwnd`, `Rate`.
    Implicit,
}

/// One named register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    /// Full name as used in programs (`Report.acked`, `reportTime`, `Cwnd`, …).
    pub name: String,
    /// Register file.
    pub class: VarClass,
    /// Register index within its file.
    pub index: u32,
    /// Declared `volatile` (report and control variables only).
    pub volatile: bool,
    /// Value type; `None` for a local that is never assigned.
    pub ty: Option<ValType>,
    /// Default value as written (`+infinity` is `u64::MAX`, booleans are 0/1), for
    /// report and control variables (after presets).
    pub default: Option<u64>,
}

impl Var {
    /// The register kind (operand type byte) instructions use for this variable.
    pub fn kind(&self) -> RegKind {
        match (self.class, self.volatile) {
            (VarClass::Report, true) => RegKind::VolatileReport,
            (VarClass::Report, false) => RegKind::Report,
            (VarClass::Control, true) => RegKind::VolatileControl,
            (VarClass::Control, false) => RegKind::Control,
            (VarClass::Local, _) => RegKind::Local,
            (VarClass::Primitive, _) => RegKind::Primitive,
            (VarClass::Implicit, _) => RegKind::Implicit,
        }
    }

    /// The operand naming this register.
    pub fn operand(&self) -> Operand {
        Operand::new(self.kind(), self.index)
    }

    /// The default as the datapath will hold it: `+infinity` is encoded as
    /// `0xFFFFFFFF`, and libccp turns the legacy DEF sentinel `0x3FFFFFFF` into
    /// `0xFFFFFFFF` too (spec §3.11).
    pub fn datapath_default(&self) -> Option<u64> {
        self.default.map(|d| match d {
            u64::MAX | DEF_INFINITY_SENTINEL => DATAPATH_INFINITY,
            d => d,
        })
    }

    /// The name without the `Report.` prefix (how pyportus exposes report fields).
    pub fn short_name(&self) -> &str {
        match self.class {
            VarClass::Report => self.name.strip_prefix("Report.").unwrap_or(&self.name),
            _ => &self.name,
        }
    }
}

/// Why a name cannot be the target of an UPDATE_FIELDS / CHANGE_PROG record.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FieldError {
    /// The program has no such name.
    #[error("unknown variable `{0}`")]
    Unknown(String),
    /// Names starting with `__` are internal.
    #[error("`{0}` is reserved for internal use")]
    Reserved(String),
    /// The name exists but is not a control variable, `Cwnd` or `Rate`.
    #[error("`{0}` cannot be updated: only control variables, `Cwnd` and `Rate` can")]
    NotUpdatable(String),
}

/// The built-in names: the 15 primitives, then `Micros`, `Cwnd`, `Rate`.
fn builtins() -> &'static [Var] {
    static BUILTINS: LazyLock<Vec<Var>> = LazyLock::new(|| {
        let prims = primitive::ALL
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| (VarClass::Primitive, i, *name, *ty));
        let imps = implicit::ALL
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| !name.starts_with("__"))
            .map(|(i, (name, ty))| (VarClass::Implicit, i, *name, *ty));
        prims
            .chain(imps)
            .map(|(class, i, name, ty)| Var {
                name: name.to_string(),
                class,
                index: i as u32,
                volatile: false,
                ty: Some(ty),
                default: None,
            })
            .collect()
    });
    &BUILTINS
}

/// The variables of one compiled program: report, control and local variables. Lookups
/// also resolve the built-in primitives and the user-visible implicit registers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scope {
    vars: Vec<Var>,
}

impl Scope {
    /// A scope holding no user variables (only the built-in names resolve).
    pub fn new() -> Scope {
        Scope::default()
    }

    /// Add a variable (the compiler guarantees names are unique).
    pub(crate) fn push(&mut self, v: Var) {
        self.vars.push(v);
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Var> {
        self.vars.iter_mut().find(|v| v.name == name)
    }

    /// Look a name up exactly as written in programs.
    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars
            .iter()
            .find(|v| v.name == name)
            .or_else(|| builtins().iter().find(|v| v.name == name))
    }

    /// Whether the name exists.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A report variable by name, with or without the `Report.` prefix
    /// (`"acked"` and `"Report.acked"` both work).
    pub fn report(&self, name: &str) -> Option<&Var> {
        let found = self
            .get(name)
            .filter(|v| v.class == VarClass::Report)
            .or_else(|| self.get(&format!("Report.{name}")));
        found.filter(|v| v.class == VarClass::Report)
    }

    fn class_sorted(&self, class: VarClass) -> Vec<&Var> {
        let mut v: Vec<&Var> = self.vars.iter().filter(|v| v.class == class).collect();
        v.sort_by_key(|v| v.index);
        v
    }

    /// Report variables in register-index order: the order of the values of a MEASURE
    /// message.
    pub fn reports(&self) -> Vec<&Var> {
        self.class_sorted(VarClass::Report)
    }

    /// Control variables in register-index order.
    pub fn controls(&self) -> Vec<&Var> {
        self.class_sorted(VarClass::Control)
    }

    /// Local variables in register-index order.
    pub fn locals(&self) -> Vec<&Var> {
        self.class_sorted(VarClass::Local)
    }

    /// Number of report variables (= fields of a MEASURE from this program).
    pub fn num_reports(&self) -> usize {
        self.vars
            .iter()
            .filter(|v| v.class == VarClass::Report)
            .count()
    }

    /// The program's own variables (report, control, local) in declaration/creation
    /// order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The built-in names every program can read: primitives, `Micros`, `Cwnd`, `Rate`.
    pub fn builtins(&self) -> &'static [Var] {
        builtins()
    }

    /// The register an UPDATE_FIELDS / CHANGE_PROG record for `name` must carry:
    /// a control variable (kind 0 or 8 by volatility), or `Cwnd`/`Rate` (implicit 4/5).
    pub fn update_target(&self, name: &str) -> Result<Operand, FieldError> {
        if name.starts_with("__") {
            return Err(FieldError::Reserved(name.to_string()));
        }
        let v = self
            .get(name)
            .ok_or_else(|| FieldError::Unknown(name.to_string()))?;
        match v.class {
            VarClass::Control => Ok(v.operand()),
            VarClass::Implicit if v.index == implicit::CWND || v.index == implicit::RATE => {
                Ok(v.operand())
            }
            _ => Err(FieldError::NotUpdatable(name.to_string())),
        }
    }

    /// The name of the register an operand refers to, if the program names it.
    pub fn name_of(&self, op: Operand) -> Option<&str> {
        match op.kind {
            RegKind::Immediate | RegKind::Tmp => None,
            RegKind::Implicit => implicit::name(op.value),
            RegKind::Primitive => primitive::name(op.value),
            k => self
                .vars
                .iter()
                .find(|v| v.kind() == k && v.index == op.value)
                .map(|v| v.name.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_and_update_targets() {
        let mut s = Scope::new();
        s.push(Var {
            name: "Report.acked".into(),
            class: VarClass::Report,
            index: 0,
            volatile: true,
            ty: Some(ValType::Num),
            default: Some(0),
        });
        s.push(Var {
            name: "ctl".into(),
            class: VarClass::Control,
            index: 0,
            volatile: true,
            ty: Some(ValType::Num),
            default: Some(u64::MAX),
        });
        assert_eq!(
            s.get("Flow.rtt_sample_us").map(Var::operand),
            Some(Operand::new(RegKind::Primitive, 13))
        );
        assert_eq!(s.report("acked").map(|v| v.index), Some(0));
        assert_eq!(
            s.report("Report.acked").map(|v| v.short_name()),
            Some("acked")
        );
        assert!(s.report("ctl").is_none());
        assert_eq!(
            s.update_target("Cwnd"),
            Ok(Operand::new(RegKind::Implicit, 4))
        );
        assert_eq!(
            s.update_target("Rate"),
            Ok(Operand::new(RegKind::Implicit, 5))
        );
        assert_eq!(
            s.update_target("ctl"),
            Ok(Operand::new(RegKind::VolatileControl, 0))
        );
        assert_eq!(
            s.update_target("Micros"),
            Err(FieldError::NotUpdatable("Micros".into()))
        );
        assert_eq!(
            s.update_target("Report.acked"),
            Err(FieldError::NotUpdatable("Report.acked".into()))
        );
        assert_eq!(
            s.update_target("__eventFlag"),
            Err(FieldError::Reserved("__eventFlag".into()))
        );
        assert_eq!(
            s.update_target("nope"),
            Err(FieldError::Unknown("nope".into()))
        );
        assert_eq!(
            s.get("ctl").and_then(Var::datapath_default),
            Some(0xFFFF_FFFF)
        );
        assert_eq!(
            s.name_of(Operand::new(RegKind::VolatileReport, 0)),
            Some("Report.acked")
        );
        assert_eq!(s.name_of(Operand::new(RegKind::Report, 0)), None);
    }
}
