/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the plain libibverbs test programs (qp_loop, mr_write) share: opening
 * a device by name, taking an RC QP through INIT, RTR and RTS with a global
 * route, zero-length posts and polling one completion. Each program defines
 * VERBS_PROG (its name, the prefix of every line it prints) before including
 * this, so that a shell test can grep "PROG: FAIL" whichever helper failed.
 */
#ifndef HYV_TESTS_VM_VERBS_COMMON_H
#define HYV_TESTS_VM_VERBS_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>

#ifndef VERBS_PROG
#error "define VERBS_PROG (the program's name) before including verbs_common.h"
#endif

#define PORT 1
#define HOP_LIMIT 64
#define MIN_RNR_TIMER 12
#define TIMEOUT 14
#define RETRIES 7
/* Two levels of TCG on a busy machine: completions can take seconds. */
#define POLL_SECONDS 300

/*
 * stdout is flushed first so that, with both streams in one file, the
 * failure comes after the lines that led to it.
 */
#define CHECK(cond, ...)                                    \
	do {                                                \
		if (!(cond)) {                              \
			fflush(stdout);                     \
			fprintf(stderr, VERBS_PROG ": FAIL: "); \
			fprintf(stderr, __VA_ARGS__);       \
			fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno)); \
			exit(1);                            \
		}                                           \
	} while (0)

/* Opens the device called name and reads its GID gid_index on PORT. */
static inline struct ibv_context *open_device(const char *name, int gid_index, union ibv_gid *gid)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i;

	CHECK(list, "ibv_get_device_list");
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	/* An open context outlives the list (ibv_get_device_list(3)). */
	ibv_free_device_list(list);
	CHECK(ctx, "open %s", name);
	CHECK(!ibv_query_gid(ctx, PORT, gid_index, gid), "query GID %d", gid_index);
	return ctx;
}

/*
 * Connects qp to remote_qpn behind gid (both ends of every test run on one
 * device, so the peer's GID is our own), allowing access (IBV_ACCESS_REMOTE_*)
 * to the peer.
 */
static inline void to_rts(struct ibv_qp *qp, uint32_t remote_qpn, const union ibv_gid *gid,
			  int gid_index, unsigned int access)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0, .port_num = PORT,
		.qp_access_flags = access,
	};

	CHECK(!ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			     IBV_QP_ACCESS_FLAGS), "QP %u to INIT", qp->qp_num);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = remote_qpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = MIN_RNR_TIMER;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *gid;
	a.ah_attr.grh.sgid_index = gid_index;
	a.ah_attr.grh.hop_limit = HOP_LIMIT;
	a.ah_attr.port_num = PORT;
	CHECK(!ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			     IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER),
	      "QP %u to RTR", qp->qp_num);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = TIMEOUT;
	a.retry_cnt = RETRIES;
	a.rnr_retry = RETRIES;
	a.sq_psn = 0;
	a.max_rd_atomic = 1;
	CHECK(!ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC),
	      "QP %u to RTS", qp->qp_num);
}

/* A receive without SGE: takes a zero-length SEND, needs no MR. */
static inline void post_recv0(struct ibv_qp *qp)
{
	struct ibv_recv_wr wr = { .wr_id = qp->qp_num, .num_sge = 0 }, *bad;
	int rc = ibv_post_recv(qp, &wr, &bad);

	/* The post verbs return the error instead of setting errno. */
	errno = rc;
	CHECK(!rc, "post_recv on QP %u", qp->qp_num);
}

/* A signalled zero-length SEND. */
static inline void post_send0(struct ibv_qp *qp)
{
	struct ibv_send_wr wr = { .wr_id = qp->qp_num, .num_sge = 0, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	int rc = ibv_post_send(qp, &wr, &bad);

	errno = rc;
	CHECK(!rc, "post_send on QP %u", qp->qp_num);
}

/* Polls one successful completion of the given opcode. */
static inline void wait_wc(struct ibv_cq *cq, enum ibv_wc_opcode opcode)
{
	time_t deadline = time(NULL) + POLL_SECONDS;
	struct ibv_wc wc;
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, &wc);
		CHECK(n >= 0, "poll_cq");
		if (n) {
			CHECK(wc.status == IBV_WC_SUCCESS, "completion wr_id %" PRIu64 " status %s",
			      wc.wr_id, ibv_wc_status_str(wc.status));
			CHECK(wc.opcode == opcode, "completion opcode %d, expected %d", wc.opcode,
			      opcode);
			return;
		}
		CHECK(time(NULL) < deadline, "no completion in %d s", POLL_SECONDS);
	}
}

#endif /* HYV_TESTS_VM_VERBS_COMMON_H */
