//! Replays every vector of libccp's own `unittest.c` (spec §8): READY, CREATE, and for
//! test_basic, test_primitives, test_multievent, test_fallthrough, test_read_implicit,
//! test_update_fields and test_close the INSTALL + CHANGE_PROG messages and the exact
//! MEASURE bytes that must result, on one connection, in libccp's order. As in libccp's
//! test, INSTALL/CHANGE_PROG vectors carry a header `len` smaller than their content and
//! the whole array is the buffer (parse by counts, spec §2.11).

mod common;

use ccp_datapath::{Config, Datapath, DatapathInfo, Handled, Invoked, Primitives};
use ccp_wire::{Hello, Role};
use common::{Cb, Mock};

#[rustfmt::skip]
const READY: [u8; 12] = [0x05, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xaa, 0x00, 0x00, 0x00];

fn create_vector() -> Vec<u8> {
    #[rustfmt::skip]
    let mut v = vec![
        0x00, 0x00, 0x60, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x64, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
    ];
    let mut name = b"my-cool-alg".to_vec();
    name.resize(64, 0);
    v.extend_from_slice(&name);
    v
}

fn change_prog(uid: u8) -> [u8; 16] {
    // libccp's vectors declare len 12 for this 16-byte message.
    [4, 0, 12, 0, 1, 0, 0, 0, uid, 0, 0, 0, 0, 0, 0, 0]
}

fn report(uid: u8, value: u64) -> Vec<u8> {
    let mut v = vec![
        0x01, 0x00, 0x18, 0x00, 0x01, 0x00, 0x00, 0x00, uid, 0, 0, 0, 1, 0, 0, 0,
    ];
    v.extend_from_slice(&value.to_le_bytes());
    v
}

#[rustfmt::skip]
const INSTALL_BASIC: [u8; 116] = [
    2, 0, 116, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0,
    1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
    2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0,
    1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    0, 7, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 7, 0, 0, 0, 0,
    1, 2, 2, 0, 0, 0, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0,
];

#[rustfmt::skip]
const INSTALL_PRIMITIVES: [u8; 100] = [
    2, 0, 84, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,
    1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0,
    2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 255, 255, 255, 255,
    8, 2, 0, 0, 0, 0, 4, 13, 0, 0, 0, 5, 0, 0, 0, 0,
    1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 4, 13, 0, 0, 0,
    1, 2, 2, 0, 0, 0, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0,
];

#[rustfmt::skip]
const INSTALL_MULTIEVENT: [u8; 180] = [
    2, 0, 156, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 8, 0, 0, 0,
    2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0,
    5, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0, 2, 0, 0, 0,
    2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 255, 255, 255, 255,
    8, 2, 0, 0, 0, 0, 4, 13, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 13, 0, 0, 0,
    1, 2, 2, 0, 0, 0, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    0, 7, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 7, 0, 0, 0, 0,
];

#[rustfmt::skip]
const INSTALL_FALLTHROUGH: [u8; 196] = [
    2, 0, 172, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0,
    2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0,
    6, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 255, 255, 255, 255,
    2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0,
    8, 2, 0, 0, 0, 0, 4, 13, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 13, 0, 0, 0,
    1, 2, 2, 0, 0, 0, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 2, 1, 0, 0, 0, 2, 1, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    0, 7, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 7, 0, 0, 0, 0,
];

#[rustfmt::skip]
const INSTALL_READ_IMPLICIT: [u8; 132] = [
    2, 0, 0x78, 0, 1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0,
    1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0,
    2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0,
    1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 2, 4, 0, 0, 0, 2, 4, 0, 0, 0, 1, 5, 0, 0, 0,
    4, 6, 0, 0, 0, 0, 2, 4, 0, 0, 0, 1, 5, 0, 0, 0,
    1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 6, 0, 0, 0, 0,
    1, 2, 2, 0, 0, 0, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0,
];

#[rustfmt::skip]
const INSTALL_UPDATE: [u8; 116] = [
    2, 0, 116, 0, 1, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0,
    2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0,
    2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0,
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0, 0, 0,
    1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0,
    1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 2, 2, 0, 0, 0, 2, 2, 0, 0, 0, 1, 1, 0, 0, 0,
];

#[rustfmt::skip]
const UPDATE_CONTROL0_42: [u8; 25] = [
    3, 0, 25, 0, 1, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0,
];

#[rustfmt::skip]
const CLOSE: [u8; 16] = [0x01, 0, 16, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

struct Replay {
    dp: Datapath<Mock>,
    prims: Primitives,
}

impl Replay {
    fn install_and_switch(&mut self, install: &[u8], uid: u8) {
        assert!(matches!(
            self.dp.read_msg(install),
            Ok(Handled::Installed { uid: u, .. }) if u == u32::from(uid)
        ));
        assert_eq!(
            self.dp.read_msg(&change_prog(uid)),
            Ok(Handled::ProgramChanged {
                sid: 1,
                uid: u32::from(uid)
            })
        );
    }

    /// Invoke and return what was sent.
    fn invoke(&mut self) -> Vec<Vec<u8>> {
        assert!(matches!(
            self.dp.invoke(1, &self.prims),
            Ok(Invoked::Ran { .. })
        ));
        self.dp.callbacks_mut().take_sent()
    }
}

#[test]
fn libccp_unittest_vectors() {
    // ccp_init(dp, 0xaa) at time 0 sends READY (then our HELLO).
    let mut dp = Datapath::init(Config::new(0xaa), Mock::default()).unwrap();
    let sent = dp.callbacks_mut().take_sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], READY);
    let hello = Hello::parse(&sent[1]).unwrap();
    assert_eq!(hello.role, Role::Datapath);

    // test_init: CREATE.
    let info = DatapathInfo {
        init_cwnd: 100,
        mss: 10,
        src_ip: 1,
        src_port: 2,
        dst_ip: 3,
        dst_port: 4,
    };
    assert_eq!(dp.connection_start(info, Some("my-cool-alg"), ()), Ok(1));
    assert_eq!(dp.callbacks_mut().take_sent(), vec![create_vector()]);

    let mut r = Replay {
        dp,
        prims: Primitives::default(),
    };

    // test_basic
    r.install_and_switch(&INSTALL_BASIC, 1);
    assert_eq!(r.invoke(), vec![report(1, 1)]);

    // test_primitives
    r.prims.rtt_sample_us = 0xcafe_feed;
    r.install_and_switch(&INSTALL_PRIMITIVES, 2);
    assert_eq!(r.invoke(), vec![report(2, 0xcafe_feed)]);

    // test_multievent
    r.prims.rtt_sample_us = 0xcafe_feed;
    r.install_and_switch(&INSTALL_MULTIEVENT, 3);
    assert_eq!(r.invoke(), vec![report(3, 0)]);
    assert_eq!(r.invoke(), Vec::<Vec<u8>>::new());
    assert_eq!(r.invoke(), Vec::<Vec<u8>>::new());
    r.prims.rtt_sample_us = 0xcafe_feeb;
    assert_eq!(r.invoke(), vec![report(3, 2)]);

    // test_fallthrough
    r.prims.rtt_sample_us = 0xcafe_feed;
    r.install_and_switch(&INSTALL_FALLTHROUGH, 4);
    assert_eq!(r.invoke(), vec![report(4, 1)]);
    assert_eq!(r.invoke(), Vec::<Vec<u8>>::new());
    assert_eq!(r.invoke(), Vec::<Vec<u8>>::new());
    r.prims.rtt_sample_us = 0xcafe_feeb;
    assert_eq!(r.invoke(), vec![report(4, 3)]);

    // test_read_implicit: (:= Cwnd 5) reaches set_cwnd.
    r.dp.callbacks_mut().take_calls();
    r.install_and_switch(&INSTALL_READ_IMPLICIT, 5);
    assert_eq!(r.invoke(), vec![report(5, 1)]);
    assert_eq!(r.dp.callbacks_mut().take_calls(), vec![Cb::Cwnd(1, 5)]);

    // test_update_fields: default 5, then UPDATE control[0] ← 42.
    r.install_and_switch(&INSTALL_UPDATE, 6);
    assert_eq!(r.invoke(), vec![report(6, 5)]);
    assert_eq!(
        r.dp.read_msg(&UPDATE_CONTROL0_42),
        Ok(Handled::Updated { sid: 1, count: 1 })
    );
    assert_eq!(r.invoke(), vec![report(6, 42)]);

    // test_close
    assert!(r.dp.connection_free(1).is_some());
    assert_eq!(r.dp.callbacks_mut().take_sent(), vec![CLOSE.to_vec()]);
    assert_eq!(r.dp.programs().iter().flatten().count(), 6);
    let s = r.dp.stats();
    assert_eq!((s.installs, s.change_progs, s.updates), (6, 6, 1));
    assert_eq!(s.malformed + s.unknown_type + s.unknown_connection, 0);
}

#[test]
fn without_handshake_only_ready_is_sent() {
    let mut cfg = Config::new(0xaa);
    cfg.handshake = false;
    let mut dp = Datapath::init(cfg, Mock::default()).unwrap();
    assert_eq!(dp.callbacks_mut().take_sent(), vec![READY.to_vec()]);
}
