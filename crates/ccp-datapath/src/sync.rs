//! [`SyncDatapath`]: a `Mutex`-wrapped [`Datapath`] for multi-threaded datapaths.

use std::sync::{Mutex, MutexGuard, PoisonError};

use ccp_lang::vm::Primitives;

use crate::callbacks::{Callbacks, DatapathInfo, Sid};
use crate::config::{Config, ConfigError};
use crate::datapath::{Datapath, Handled, Invoked};
use crate::error::{InvokeError, ReadError, StartError};
use crate::stats::Stats;

/// A [`Datapath`] behind one mutex: every call (from an ACK thread or the IPC thread)
/// takes the lock, so all calls are serialised as [`Datapath`] requires. Callbacks run
/// with the lock held and must not call back into the same `SyncDatapath` (that would
/// deadlock).
///
/// `SyncDatapath<C>` is `Send + Sync` when `C` and `C::Conn` are `Send`.
#[derive(Debug)]
pub struct SyncDatapath<C: Callbacks> {
    inner: Mutex<Datapath<C>>,
}

impl<C: Callbacks> SyncDatapath<C> {
    /// [`Datapath::init`] behind a mutex.
    pub fn init(cfg: Config, cb: C) -> Result<SyncDatapath<C>, ConfigError> {
        Ok(SyncDatapath {
            inner: Mutex::new(Datapath::init(cfg, cb)?),
        })
    }

    /// Lock and use the datapath directly (a poisoned lock — a callback panicked — is
    /// recovered: the datapath's own state is consistent between calls).
    pub fn lock(&self) -> MutexGuard<'_, Datapath<C>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Datapath::connection_start`].
    pub fn connection_start(
        &self,
        info: DatapathInfo,
        alg: Option<&str>,
        data: C::Conn,
    ) -> Result<Sid, StartError> {
        self.lock().connection_start(info, alg, data)
    }

    /// [`Datapath::connection_free`].
    pub fn connection_free(&self, sid: Sid) -> Option<C::Conn> {
        self.lock().connection_free(sid)
    }

    /// [`Datapath::invoke`].
    pub fn invoke(&self, sid: Sid, prims: &Primitives) -> Result<Invoked, InvokeError> {
        self.lock().invoke(sid, prims)
    }

    /// [`Datapath::read_msg`].
    pub fn read_msg(&self, buf: &[u8]) -> Result<Handled, ReadError> {
        self.lock().read_msg(buf)
    }

    /// [`Datapath::tick`].
    pub fn tick(&self) -> Option<u64> {
        self.lock().tick()
    }

    /// [`Datapath::stats`].
    pub fn stats(&self) -> Stats {
        self.lock().stats()
    }

    /// The inner datapath.
    pub fn into_inner(self) -> Datapath<C> {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
