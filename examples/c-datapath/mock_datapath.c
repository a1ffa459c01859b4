/*
 * A mock C datapath using the Rust CCP datapath library through its libccp-compatible
 * C ABI (include/ccp_datapath.h, libccp_datapath_ffi.a).
 *
 * It binds a unix datagram socket, initialises the library (READY + HELLO go to the
 * agent), starts one connection (CREATE), and then runs an "ACK clock": every step it
 * reads the agent's messages (INSTALL, CHANGE_PROG, UPDATE_FIELDS) into ccp_read_msg,
 * fills mock primitives and calls ccp_invoke, applying set_cwnd to its own state.
 * It stops when the agent's window update has been applied (or after max_steps),
 * frees the connection (close message) and prints a summary.
 *
 * usage: mock_datapath AGENT_SOCKET OWN_SOCKET MAX_STEPS [EXPECTED_CWND]
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ccp_datapath.h"

struct mock_flow {
    uint32_t cwnd;      /* bytes, as the "TCP stack" would keep it */
    uint32_t rate;
    unsigned cwnd_sets; /* set_cwnd callbacks seen */
};

static int sock_fd = -1;
static struct sockaddr_un agent_addr;

static void mock_set_cwnd(struct ccp_connection *conn, uint32_t cwnd) {
    struct mock_flow *f = (struct mock_flow *)ccp_get_impl(conn);
    if (f->cwnd != cwnd) {
        printf("set_cwnd sid=%u cwnd=%u\n", conn->index, cwnd);
    }
    f->cwnd = cwnd;
    f->cwnd_sets++;
}

static void mock_set_rate_abs(struct ccp_connection *conn, uint32_t rate) {
    struct mock_flow *f = (struct mock_flow *)ccp_get_impl(conn);
    f->rate = rate;
}

static int mock_send_msg(struct ccp_datapath *dp, char *msg, int len) {
    (void)dp;
    ssize_t n = sendto(sock_fd, msg, (size_t)len, 0, (struct sockaddr *)&agent_addr,
                       sizeof(agent_addr));
    return n == len ? 0 : -1;
}

static void mock_log(struct ccp_datapath *dp, enum ccp_log_level level, const char *msg,
                     int len) {
    (void)dp;
    printf("log level=%d %.*s\n", (int)level, len, msg);
}

static uint64_t mock_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mock_since_usecs(uint64_t then) { return mock_now() - then; }
static uint64_t mock_after_usecs(uint64_t us) { return mock_now() + us; }

/* Feed every queued agent message to the library; wait up to timeout_ms for the first. */
static int drain(struct ccp_datapath *dp, int timeout_ms) {
    char buf[32768];
    int handled = 0;
    struct pollfd pfd = {.fd = sock_fd, .events = POLLIN};
    while (poll(&pfd, 1, handled ? 0 : timeout_ms) > 0) {
        ssize_t n = recv(sock_fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        int rc = ccp_read_msg(dp, buf, (int)n);
        printf("read_msg type=%u len=%zd rc=%d\n", (unsigned)(unsigned char)buf[0], n, rc);
        handled++;
    }
    return handled;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s AGENT_SOCKET OWN_SOCKET MAX_STEPS [EXPECTED_CWND]\n",
                argv[0]);
        return 2;
    }
    const char *agent_path = argv[1];
    const char *own_path = argv[2];
    int max_steps = atoi(argv[3]);
    uint32_t expected = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    sock_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (sock_fd < 0) { perror("socket"); return 1; }
    struct sockaddr_un own = {.sun_family = AF_UNIX};
    strncpy(own.sun_path, own_path, sizeof(own.sun_path) - 1);
    unlink(own_path);
    if (bind(sock_fd, (struct sockaddr *)&own, sizeof(own)) < 0) { perror("bind"); return 1; }
    memset(&agent_addr, 0, sizeof(agent_addr));
    agent_addr.sun_family = AF_UNIX;
    strncpy(agent_addr.sun_path, agent_path, sizeof(agent_addr.sun_path) - 1);

    /* Exactly what a libccp datapath fills in (connections allocated by us, as libccp
     * requires; NULL would let the library allocate them). */
    static struct ccp_connection conns[16];
    struct ccp_datapath dp;
    memset(&dp, 0, sizeof(dp));
    dp.set_cwnd = mock_set_cwnd;
    dp.set_rate_abs = mock_set_rate_abs;
    dp.send_msg = mock_send_msg;
    dp.log = mock_log;
    dp.now = mock_now;
    dp.since_usecs = mock_since_usecs;
    dp.after_usecs = mock_after_usecs;
    dp.max_connections = 16;
    dp.ccp_active_connections = conns;
    dp.fto_us = 5000000;
    dp.max_programs = 10;

    int rc = ccp_init(&dp, 42);
    printf("ccp_init rc=%d\n", rc);
    if (rc != LIBCCP_OK) return 1;

    struct mock_flow flow = {.cwnd = 14600};
    struct ccp_datapath_info info = {
        .init_cwnd = 14600, .mss = 1460, .src_ip = 1, .src_port = 2, .dst_ip = 3, .dst_port = 4,
    };
    strncpy(info.congAlg, "c-example", MAX_CONG_ALG_SIZE - 1);
    struct ccp_connection *conn = ccp_connection_start(&dp, &flow, &info);
    if (!conn) { printf("connection_start failed\n"); return 1; }
    printf("connection sid=%u\n", conn->index);
    if (ccp_connection_lookup(&dp, conn->index) != conn) { printf("lookup failed\n"); return 1; }

    int ran = 0, applied = 0, step;
    for (step = 0; step < max_steps; step++) {
        drain(&dp, 20);
        conn->prims.bytes_acked = 1460;
        conn->prims.packets_acked = 1;
        conn->prims.rtt_sample_us = 10000;
        conn->prims.bytes_in_flight = flow.cwnd;
        conn->prims.packets_in_flight = flow.cwnd / 1460;
        conn->prims.snd_cwnd = flow.cwnd;
        conn->prims.snd_rate = flow.rate;
        rc = ccp_invoke(conn);
        conn->prims.was_timeout = false;
        if (rc == LIBCCP_OK) ran++;
        if (expected && flow.cwnd == expected) {
            applied++;
            if (applied >= 3) break;
        }
    }
    printf("steps=%d program_runs=%d applied=%d final_cwnd=%u\n", step, ran, applied, flow.cwnd);

    struct ccp_stats st;
    ccp_get_stats(&dp, &st);
    printf("stats installs=%llu reports=%llu malformed=%llu\n",
           (unsigned long long)st.installs, (unsigned long long)st.reports_sent,
           (unsigned long long)st.malformed);

    ccp_connection_free(&dp, conn->index);
    printf("freed\n");
    ccp_free(&dp);
    close(sock_fd);
    unlink(own_path);
    return (expected && applied == 0) ? 3 : 0;
}
