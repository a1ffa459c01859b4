//! The per-flow [`Datapath`] handle: how a flow switches programs and updates registers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ccp_lang::{FieldError, Scope};
use ccp_wire::{
    CHANGE_PROG_FIXED_LEN, HEADER_LEN, Header, MAX_UPDATES, MsgType, UPDATE_FIELDS_FIXED_LEN,
    UPDATE_RECORD_LEN, UpdateField,
};
use thiserror::Error;

use crate::programs::{Program, ProgramSet, ProgramTable};

/// Why [`Datapath::set_program`] failed (nothing was sent).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SetProgramError {
    /// The flow's algorithm declares no program of this name.
    #[error("algorithm `{alg}` has no datapath program named `{name}`")]
    UnknownProgram {
        /// The requested program.
        name: String,
        /// The flow's algorithm.
        alg: String,
    },
    /// An initial value names something that cannot be set.
    #[error("program `{program}`: {source}")]
    Field {
        /// The program.
        program: String,
        /// What is wrong with the name.
        #[source]
        source: FieldError,
    },
    /// More initial values than one message can carry.
    #[error("{count} initial values, at most {max} per message")]
    TooManyUpdates {
        /// Values given.
        count: usize,
        /// Limit ([`MAX_UPDATES`]).
        max: usize,
    },
    /// The flow no longer exists (closed, or its datapath restarted).
    #[error("flow {sid} no longer exists on its datapath")]
    Detached {
        /// The flow's socket id.
        sid: u32,
    },
}

/// Why an update ([`Datapath::update_field`] and friends) failed (nothing was sent).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum UpdateError {
    /// Only `Cwnd` and `Rate` can be set before the flow's first `set_program`.
    #[error("`{0}`: no program set on this flow yet (call set_program first)")]
    NoProgram(String),
    /// A name cannot be updated in the program's scope.
    #[error("{0}")]
    Field(#[from] FieldError),
    /// More values than one message can carry.
    #[error("{count} updates, at most {max} per message")]
    TooManyUpdates {
        /// Values given.
        count: usize,
        /// Limit ([`MAX_UPDATES`]).
        max: usize,
    },
    /// The flow no longer exists (closed, or its datapath restarted).
    #[error("flow {sid} no longer exists on its datapath")]
    Detached {
        /// The flow's socket id.
        sid: u32,
    },
}

/// One queued outgoing message: which datapath, which bytes of the outbox.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutMsg {
    pub(crate) dp: u32,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Outgoing messages, encoded back to back into one reused buffer.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) bytes: Vec<u8>,
    pub(crate) msgs: Vec<OutMsg>,
}

impl Outbox {
    pub(crate) fn push(&mut self, dp: u32, msg: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(msg);
        self.msgs.push(OutMsg {
            dp,
            start,
            end: self.bytes.len(),
        });
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.msgs.clear();
    }

    /// Encode UPDATE_FIELDS (`uid == None`) or CHANGE_PROG (`Some(uid)`) for `sid` with
    /// the records `resolve` yields; on error nothing is queued.
    fn push_updates<E>(
        &mut self,
        dp: u32,
        sid: u32,
        uid: Option<u32>,
        count: usize,
        mut resolve: impl FnMut(usize) -> Result<UpdateField, E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        let (t, fixed) = match uid {
            None => (MsgType::UpdateFields, UPDATE_FIELDS_FIXED_LEN),
            Some(_) => (MsgType::ChangeProg, CHANGE_PROG_FIXED_LEN),
        };
        let len = fixed + UPDATE_RECORD_LEN * count;
        self.bytes.extend_from_slice(
            &Header {
                msg_type: t.id(),
                len: len as u16,
                sid,
            }
            .encode(),
        );
        if let Some(uid) = uid {
            self.bytes.extend_from_slice(&uid.to_le_bytes());
        }
        self.bytes.extend_from_slice(&(count as u32).to_le_bytes());
        for i in 0..count {
            match resolve(i) {
                Ok(u) => self.bytes.extend_from_slice(&u.encode()),
                Err(e) => {
                    self.bytes.truncate(start);
                    return Err(e);
                }
            }
        }
        debug_assert_eq!(self.bytes.len() - start, len);
        debug_assert!(len >= HEADER_LEN);
        self.msgs.push(OutMsg {
            dp,
            start,
            end: self.bytes.len(),
        });
        Ok(())
    }
}

/// State shared by a flow's [`Datapath`] handles and the agent.
#[derive(Debug)]
pub(crate) struct FlowLink {
    /// uid of the program last set (0: none).
    pub(crate) current_uid: AtomicU32,
    /// Cleared when the flow is removed from the agent.
    pub(crate) alive: AtomicBool,
}

impl FlowLink {
    pub(crate) fn new() -> FlowLink {
        FlowLink {
            current_uid: AtomicU32::new(0),
            alive: AtomicBool::new(true),
        }
    }
}

/// Agent state shared with every [`Datapath`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) table: ProgramTable,
    pub(crate) outbox: Mutex<Outbox>,
}

impl Shared {
    pub(crate) fn outbox(&self) -> MutexGuard<'_, Outbox> {
        // No code panics while holding the lock; recover the data if it ever happens.
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A flow's handle on its datapath connection (portus's `Datapath`).
///
/// Commands are encoded into the agent's outgoing queue at once and sent when the agent's
/// driver drains it (the run loop does so right after each received datagram). Cheap to
/// clone; `Send + Sync`. Once the flow has been removed from the agent (closed, datapath
/// restarted, sid reused), every command fails with `Detached` and sends nothing.
#[derive(Clone, Debug)]
pub struct Datapath {
    sid: u32,
    dp: u32,
    alg: Arc<str>,
    programs: Arc<ProgramSet>,
    link: Arc<FlowLink>,
    shared: Arc<Shared>,
}

impl Datapath {
    pub(crate) fn new(
        sid: u32,
        dp: u32,
        alg: Arc<str>,
        programs: Arc<ProgramSet>,
        link: Arc<FlowLink>,
        shared: Arc<Shared>,
    ) -> Datapath {
        Datapath {
            sid,
            dp,
            alg,
            programs,
            link,
            shared,
        }
    }

    /// The connection's socket id (portus `get_sock_id`).
    pub fn sock_id(&self) -> u32 {
        self.sid
    }

    /// Whether the flow still exists on the agent.
    pub fn is_attached(&self) -> bool {
        self.link.alive.load(Ordering::Acquire)
    }

    /// The program last set with [`set_program`](Self::set_program), if any.
    pub fn program(&self) -> Option<&Arc<Program>> {
        self.shared
            .table
            .get(self.link.current_uid.load(Ordering::Acquire))
    }

    /// Switch the connection to the program `name` of this flow's algorithm (CHANGE_PROG),
    /// with optional initial values for its control variables, `Cwnd` or `Rate` (applied
    /// by the datapath right after the switch, overriding the program's defaults).
    ///
    /// From now on, reports from any other program are dropped, and names in updates are
    /// resolved in this program's scope.
    pub fn set_program(
        &mut self,
        name: &str,
        fields: Option<&[(&str, u64)]>,
    ) -> Result<(), SetProgramError> {
        let Some(prog) = self.programs.get(name) else {
            return Err(SetProgramError::UnknownProgram {
                name: name.to_owned(),
                alg: self.alg.to_string(),
            });
        };
        let fields = fields.unwrap_or(&[]);
        if fields.len() > MAX_UPDATES {
            return Err(SetProgramError::TooManyUpdates {
                count: fields.len(),
                max: MAX_UPDATES,
            });
        }
        self.check_attached()
            .map_err(|_| SetProgramError::Detached { sid: self.sid })?;
        let scope = prog.scope();
        self.shared.outbox().push_updates(
            self.dp,
            self.sid,
            Some(prog.uid()),
            fields.len(),
            |i| {
                let (n, v) = fields[i];
                resolve(scope, n, v).map_err(|source| SetProgramError::Field {
                    program: prog.name().to_owned(),
                    source,
                })
            },
        )?;
        self.link.current_uid.store(prog.uid(), Ordering::Release);
        Ok(())
    }

    /// Set one variable (UPDATE_FIELDS): a control variable of the current program,
    /// `Cwnd` or `Rate`.
    pub fn update_field(&self, name: &str, value: u64) -> Result<(), UpdateError> {
        self.update_fields(&[(name, value)])
    }

    /// Set several variables in one UPDATE_FIELDS message (all or nothing).
    pub fn update_fields(&self, fields: &[(&str, u64)]) -> Result<(), UpdateError> {
        match self.program() {
            Some(p) => self.update_fields_with_scope(p.scope(), fields),
            None => {
                // Cwnd and Rate exist in every program; anything else needs one.
                if let Some((n, _)) = fields.iter().find(|(n, _)| !matches!(*n, "Cwnd" | "Rate")) {
                    return Err(UpdateError::NoProgram((*n).to_owned()));
                }
                self.send_updates(fields.len(), |i| {
                    let (n, v) = fields[i];
                    Ok(if n == "Cwnd" {
                        UpdateField::cwnd(v)
                    } else {
                        UpdateField::rate(v)
                    })
                })
            }
        }
    }

    /// Set variables resolving names in `scope` (portus's `update_field(&Scope, …)`).
    pub fn update_fields_with_scope(
        &self,
        scope: &Scope,
        fields: &[(&str, u64)],
    ) -> Result<(), UpdateError> {
        self.send_updates(fields.len(), |i| {
            let (n, v) = fields[i];
            resolve(scope, n, v).map_err(UpdateError::from)
        })
    }

    fn send_updates(
        &self,
        count: usize,
        resolve: impl FnMut(usize) -> Result<UpdateField, UpdateError>,
    ) -> Result<(), UpdateError> {
        if count > MAX_UPDATES {
            return Err(UpdateError::TooManyUpdates {
                count,
                max: MAX_UPDATES,
            });
        }
        self.check_attached()?;
        self.shared
            .outbox()
            .push_updates(self.dp, self.sid, None, count, resolve)
    }

    fn check_attached(&self) -> Result<(), UpdateError> {
        if self.is_attached() {
            Ok(())
        } else {
            Err(UpdateError::Detached { sid: self.sid })
        }
    }
}

fn resolve(scope: &Scope, name: &str, value: u64) -> Result<UpdateField, FieldError> {
    let op = scope.update_target(name)?;
    Ok(UpdateField::new(op.kind, op.value, value))
}
