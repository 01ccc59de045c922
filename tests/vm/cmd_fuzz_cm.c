// SPDX-License-Identifier: GPL-2.0-only
/*
 * cmd_fuzz, vfio mode: the rdma_cm relay (HYV_OP_CM_OPEN, HYV_OP_CM_WRITE,
 * docs/rdma-cm.md) as a hostile guest uses it. Contexts of the wrong kind,
 * commands outside the allow-list, wrong sizes, a GET_EVENT with nothing
 * queued (it must not wait), and, for an instance with a network identity,
 * binds and listens outside it: refused and counted in gid_refusals, while a
 * wildcard bind becomes the identity's address. Then random rdma_ucm
 * commands; the host must answer them all and close the context cleanly.
 */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_cm.h>

#include "cmd_fuzz.h"

#define CM_RANDOM_COMMANDS 500u
/* AF_IB's number (<rdma/ib.h> is kernel-only). */
#define CM_AF_IB 27

static uint32_t cm_run(uint32_t ctx, uint32_t cmd, const void *body, uint16_t body_len,
		       uint16_t out)
{
	uint8_t in[sizeof(struct rdma_ucm_cmd_hdr) + 512];
	struct rdma_ucm_cmd_hdr h = { .cmd = cmd, .in = body_len, .out = out };

	memcpy(in, &h, sizeof(h));
	memcpy(in + sizeof(h), body, body_len);
	return run(HYV_OP_CM_WRITE, ctx, in, sizeof(h) + body_len, out);
}

static void *cm_resp(uint16_t body_len)
{
	return page + resp_off(sizeof(struct rdma_ucm_cmd_hdr) + body_len);
}

static uint32_t create_id(uint32_t ctx, uint16_t ps, uint32_t *id)
{
	struct rdma_ucm_create_id c = { .uid = 7, .response = 0x4141414141414141ull, .ps = ps,
					.qp_type = IB_UVERBS_QPT_RC };
	uint32_t st = cm_run(ctx, RDMA_USER_CM_CMD_CREATE_ID, &c, sizeof(c),
			     sizeof(struct rdma_ucm_create_id_resp));

	if (!st)
		*id = ((struct rdma_ucm_create_id_resp *)cm_resp(sizeof(c)))->id;
	return st;
}

static uint32_t bind_ipv4(uint32_t ctx, uint32_t id, uint32_t addr_be)
{
	struct rdma_ucm_bind c = { .id = id, .addr_size = sizeof(struct sockaddr_in) };
	struct sockaddr_in *sin = (struct sockaddr_in *)&c.addr;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr_be;
	return cm_run(ctx, RDMA_USER_CM_CMD_BIND, &c, sizeof(c), 0);
}

/* A bind to the IPv6 wildcard, [::]:port. */
static uint32_t bind_ipv6_any(uint32_t ctx, uint32_t id, uint16_t port)
{
	struct rdma_ucm_bind c = { .id = id, .addr_size = sizeof(struct sockaddr_in6) };
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c.addr;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	return cm_run(ctx, RDMA_USER_CM_CMD_BIND, &c, sizeof(c), 0);
}

static uint32_t listen_id(uint32_t ctx, uint32_t id)
{
	struct rdma_ucm_listen c = { .id = id, .backlog = 4 };

	return cm_run(ctx, RDMA_USER_CM_CMD_LISTEN, &c, sizeof(c), 0);
}

static uint32_t destroy_id(uint32_t ctx, uint32_t id)
{
	struct rdma_ucm_destroy_id c = { .id = id };

	return cm_run(ctx, RDMA_USER_CM_CMD_DESTROY_ID, &c, sizeof(c),
		      sizeof(struct rdma_ucm_destroy_id_resp));
}

/* The instance's first IPv4 address as its GID table shows it (0: none). */
static uint32_t own_ipv4(void)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	struct hyv_query_gid qg = { .port = htole32(1) };
	struct hyv_gid_entry *e;
	uint32_t i, addr;

	for (i = 0; i < HYV_GID_TABLE_LEN; i++) {
		qg.index = htole32(i);
		e = (struct hyv_gid_entry *)(page + resp_off(sizeof(qg)));
		if (run(HYV_OP_QUERY_GID, 0, &qg, sizeof(qg), sizeof(*e)))
			break;
		if (!memcmp(e->raw, v4mapped, sizeof(v4mapped))) {
			memcpy(&addr, e->raw + 12, sizeof(addr));
			return addr;
		}
	}
	return 0;
}

/* The source address of id, as the host's QUERY reports it: its family, IPv4 address and port. */
static uint32_t query_src_ipv4(uint32_t ctx, uint32_t id, uint16_t *family, uint32_t *addr,
			       uint16_t *port)
{
	struct rdma_ucm_query c = { .id = id, .option = RDMA_USER_CM_QUERY_ADDR };
	struct rdma_ucm_query_addr_resp *r;
	uint32_t st = cm_run(ctx, RDMA_USER_CM_CMD_QUERY, &c, sizeof(c), sizeof(*r));
	const struct sockaddr_in *sin;

	r = cm_resp(sizeof(c));
	sin = (const struct sockaddr_in *)&r->src_addr;
	if (!st) {
		*family = sin->sin_family;
		*addr = sin->sin_addr.s_addr;
		*port = ntohs(sin->sin_port);
	}
	return st;
}

/* The identity's checks: only for an instance that is not unisolated. */
static void identity_checks(uint32_t ctx)
{
	uint64_t refusals = mdev_attr_read("hyv", "gid_refusals");
	uint32_t own = own_ipv4(), id, src = 0, st;
	uint16_t family = 0, port = 0;
	struct rdma_ucm_bind b = { .addr_size = 16 };

	expect(own != 0, "rdma_cm: the identity has no IPv4 address in the GID table");
	expect_status(create_id(ctx, RDMA_PS_TCP, &id), 0, "rdma_cm CREATE_ID for the identity checks");
	expect_status(listen_id(ctx, id), EADDRNOTAVAIL, "rdma_cm LISTEN on an unbound ID");
	expect_status(bind_ipv4(ctx, id, htonl(0xc0000201)), EADDRNOTAVAIL,
		      "rdma_cm BIND to 192.0.2.1, outside the identity");
	b.id = id;
	b.addr.ss_family = CM_AF_IB;
	expect_status(cm_run(ctx, RDMA_USER_CM_CMD_BIND, &b, sizeof(b), 0), EAFNOSUPPORT,
		      "rdma_cm BIND to an AF_IB address");
	expect(mdev_attr_read("hyv", "gid_refusals") >= refusals + 3,
	       "rdma_cm: refused addresses not counted in gid_refusals (%llu -> %llu)",
	       (unsigned long long)refusals, (unsigned long long)mdev_attr_read("hyv", "gid_refusals"));
	/* The wildcard becomes the identity's first address; then the ID may listen. */
	expect_status(bind_ipv4(ctx, id, htonl(INADDR_ANY)), 0, "rdma_cm BIND to the wildcard");
	st = query_src_ipv4(ctx, id, &family, &src, &port);
	expect_status(st, 0, "rdma_cm QUERY of the wildcard-bound ID");
	expect(src == own, "rdma_cm: a wildcard bind became %08x, not the identity's %08x", ntohl(src),
	       ntohl(own));
	expect_status(listen_id(ctx, id), 0, "rdma_cm LISTEN on the identity's address");
	expect_status(destroy_id(ctx, id), 0, "rdma_cm DESTROY_ID of the listener");
	/*
	 * The IPv6 wildcard is dual-stack on the host (bindv6only=0): with no IPv6 address in the
	 * identity it becomes the IPv4 one, port kept, and may listen.
	 */
	expect_status(create_id(ctx, RDMA_PS_TCP, &id), 0, "rdma_cm CREATE_ID for the IPv6 wildcard");
	expect_status(bind_ipv6_any(ctx, id, 7399), 0, "rdma_cm BIND to the IPv6 wildcard");
	st = query_src_ipv4(ctx, id, &family, &src, &port);
	expect_status(st, 0, "rdma_cm QUERY of the ID bound to the IPv6 wildcard");
	expect(family == AF_INET && src == own && port == 7399,
	       "rdma_cm: an IPv6 wildcard bind became family %u %08x port %u, not IPv4 %08x port 7399",
	       family, ntohl(src), port, ntohl(own));
	expect_status(listen_id(ctx, id), 0, "rdma_cm LISTEN after an IPv6 wildcard bind");
	expect_status(destroy_id(ctx, id), 0, "rdma_cm DESTROY_ID of the dual-stack listener");
	printf("cmd_fuzz: rdma_cm: addresses outside the identity refused; the wildcard bound as %08x, "
	       "the IPv6 wildcard as IPv4 %08x:%u\n", ntohl(own), ntohl(src), port);
}

/* The commands the host forwards, with their sizes: half the random ones are well-formed. */
static const struct {
	uint32_t cmd;
	uint16_t size;
} cm_commands[] = {
	{ RDMA_USER_CM_CMD_CREATE_ID, sizeof(struct rdma_ucm_create_id) },
	{ RDMA_USER_CM_CMD_DESTROY_ID, sizeof(struct rdma_ucm_destroy_id) },
	{ RDMA_USER_CM_CMD_BIND_IP, sizeof(struct rdma_ucm_bind_ip) },
	{ RDMA_USER_CM_CMD_BIND, sizeof(struct rdma_ucm_bind) },
	{ RDMA_USER_CM_CMD_RESOLVE_IP, sizeof(struct rdma_ucm_resolve_ip) },
	{ RDMA_USER_CM_CMD_RESOLVE_ADDR, sizeof(struct rdma_ucm_resolve_addr) },
	{ RDMA_USER_CM_CMD_RESOLVE_ROUTE, sizeof(struct rdma_ucm_resolve_route) },
	{ RDMA_USER_CM_CMD_QUERY_ROUTE, sizeof(struct rdma_ucm_query) },
	{ RDMA_USER_CM_CMD_QUERY, sizeof(struct rdma_ucm_query) },
	{ RDMA_USER_CM_CMD_CONNECT, sizeof(struct rdma_ucm_connect) },
	{ RDMA_USER_CM_CMD_LISTEN, sizeof(struct rdma_ucm_listen) },
	{ RDMA_USER_CM_CMD_ACCEPT, sizeof(struct rdma_ucm_accept) },
	{ RDMA_USER_CM_CMD_REJECT, sizeof(struct rdma_ucm_reject) },
	{ RDMA_USER_CM_CMD_DISCONNECT, sizeof(struct rdma_ucm_disconnect) },
	{ RDMA_USER_CM_CMD_INIT_QP_ATTR, sizeof(struct rdma_ucm_init_qp_attr) },
	{ RDMA_USER_CM_CMD_GET_EVENT, sizeof(struct rdma_ucm_get_event) },
	{ RDMA_USER_CM_CMD_NOTIFY, sizeof(struct rdma_ucm_notify) },
	{ RDMA_USER_CM_CMD_SET_OPTION, sizeof(struct rdma_ucm_set_option) },
	{ RDMA_USER_CM_CMD_MIGRATE_ID, sizeof(struct rdma_ucm_migrate_id) },
	{ RDMA_USER_CM_CMD_JOIN_MCAST, sizeof(struct rdma_ucm_join_mcast) },
};

/* Random rdma_ucm commands, most of them on context ctx, about the IDs it created. */
static void random_cm_commands(uint32_t ctx)
{
	const uint32_t n = sizeof(cm_commands) / sizeof(cm_commands[0]);
	uint32_t i, ran = 0, refused = 0, id;

	/* A few IDs for the commands to name, of both QP types. */
	for (i = 0; i < 4; i++)
		create_id(ctx, i % 2 ? RDMA_PS_UDP : RDMA_PS_TCP, &id);
	for (i = 0; i < CM_RANDOM_COMMANDS; i++) {
		uint8_t body[512];
		uint32_t pick = (uint32_t)(rng() % n);
		uint32_t cmd = rng() % 8 ? cm_commands[pick].cmd : (uint32_t)rng();
		uint16_t body_len = rng() % 2 ? cm_commands[pick].size : (uint16_t)(rng() % sizeof(body));
		uint16_t out = rng() % 2 ? 512 : (uint16_t)(rng() % 1024);
		uint32_t on = rng() % 8 ? ctx : (uint32_t)(rng() % HYV_MAX_CONTEXTS);

		for (uint32_t j = 0; j < sizeof(body); j++)
			body[j] = (uint8_t)rng();
		/* Small ID numbers where commands carry them, so that they reach live IDs. */
		if (rng() % 4) {
			uint32_t small = (uint32_t)(rng() % 8);

			memcpy(body + (rng() % 2 ? 0 : 8), &small, sizeof(small));
		}
		if (cm_run(on, cmd, body, body_len, out))
			refused++;
		else
			ran++;
	}
	printf("cmd_fuzz: %u random rdma_cm commands: %u ran, %u refused\n", CM_RANDOM_COMMANDS, ran,
	       refused);
	expect(refused > 0, "no random rdma_cm command was refused");
	expect(ran > 0, "no random rdma_cm command ran");
}

void cm_checks(void)
{
	uint32_t ctx, vctx, id, extra, st, dead;
	uint64_t ids, limit;
	struct rdma_ucm_get_event ge = { .response = 0x4141414141414141ull };
	struct rdma_ucm_query q = { .option = 99 };

	expect_status(run(HYV_OP_CM_OPEN, 0, &ge, sizeof(ge), 0), EINVAL, "CM_OPEN with a payload");
	expect_status(run(HYV_OP_CM_OPEN, 0, NULL, 0, 0), 0, "CM_OPEN");
	ctx = (uint32_t)le64toh(hdr()->value);
	expect_status(ctx_open(&vctx), 0, "CTX_OPEN beside an rdma_cm context");
	get_context(vctx);
	/* A context of the other kind. */
	expect_status(run_uverbs(ctx, IB_USER_VERBS_CMD_QUERY_DEVICE, NULL, 0, 0), EINVAL,
		      "a uverbs command on an rdma_cm context");
	expect_status(cm_run(vctx, RDMA_USER_CM_CMD_GET_EVENT, &ge, sizeof(ge),
			     sizeof(struct rdma_ucm_event_resp)),
		      EINVAL, "an rdma_cm command on a verbs context");
	expect_status(run(HYV_OP_REG_MR, ctx, NULL, 0, 0), EINVAL, "REG_MR on an rdma_cm context");

	/* Nothing queued: at once an empty response, the host never waits. */
	expect_status(cm_run(ctx, RDMA_USER_CM_CMD_GET_EVENT, &ge, sizeof(ge),
			     sizeof(struct rdma_ucm_event_resp)),
		      0, "rdma_cm GET_EVENT with no event queued");
	expect(le32toh(hdr()->resp_len) == 0, "rdma_cm GET_EVENT with no event queued: %u response bytes",
	       le32toh(hdr()->resp_len));
	expect_status(cm_run(ctx, RDMA_USER_CM_CMD_GET_EVENT, &ge, sizeof(ge), 0), ENOSPC,
		      "rdma_cm GET_EVENT without a response buffer");
	expect_status(cm_run(ctx, RDMA_USER_CM_CMD_GET_EVENT, &ge, sizeof(ge) - 4, 64), EINVAL,
		      "rdma_cm GET_EVENT shorter than its command");
	expect_status(cm_run(ctx, RDMA_USER_CM_CMD_MIGRATE_ID, &ge, sizeof(ge), 0), EOPNOTSUPP,
		      "rdma_cm MIGRATE_ID (names an fd)");
	expect_status(cm_run(ctx, RDMA_USER_CM_CMD_SET_OPTION, &ge, sizeof(ge), 0), EOPNOTSUPP,
		      "rdma_cm SET_OPTION (names a user pointer)");
	expect_status(cm_run(ctx, 0xffff, &ge, sizeof(ge), 0), EOPNOTSUPP, "rdma_cm command 0xffff");
	expect_status(create_id(ctx, 0x13f /* RDMA_PS_IB */, &id), EOPNOTSUPP, "rdma_cm CREATE_ID for AF_IB");

	ids = quota_read("cm_ids");
	expect_status(create_id(ctx, RDMA_PS_TCP, &id), 0, "rdma_cm CREATE_ID");
	expect(quota_read("cm_ids") == ids + 1, "quota/cm_ids %llu after a CREATE_ID, expected %llu",
	       (unsigned long long)quota_read("cm_ids"), (unsigned long long)ids + 1);
	limit = quota_read("cm_ids_max");
	quota_write("cm_ids_max", ids + 1);
	expect_status(create_id(ctx, RDMA_PS_TCP, &extra), EAGAIN, "rdma_cm CREATE_ID beyond quota/cm_ids_max");
	quota_write("cm_ids_max", limit);
	q.id = id;
	expect_status(cm_run(ctx, RDMA_USER_CM_CMD_QUERY, &q, sizeof(q), 64), EINVAL,
		      "rdma_cm QUERY with an unknown option");
	expect_status(destroy_id(ctx, id), 0, "rdma_cm DESTROY_ID");
	expect(quota_read("cm_ids") == ids, "quota/cm_ids %llu after the DESTROY_ID, expected %llu",
	       (unsigned long long)quota_read("cm_ids"), (unsigned long long)ids);
	st = destroy_id(ctx, id);
	expect(st == EINVAL || st == ENOENT, "rdma_cm DESTROY_ID twice: status %u", st);

	if (mdev_attr_read("identity", "unisolated") == 0)
		identity_checks(ctx);
	random_cm_commands(ctx);
	expect_status(run(HYV_OP_CTX_CLOSE, ctx, NULL, 0, 0), 0, "CTX_CLOSE of the rdma_cm context");
	expect_status(run(HYV_OP_CTX_CLOSE, vctx, NULL, 0, 0), 0, "CTX_CLOSE beside it");
	/* One left open with a listener: the device's close takes it. */
	expect_status(run(HYV_OP_CM_OPEN, 0, NULL, 0, 0), 0, "CM_OPEN left to the device close");
	dead = (uint32_t)le64toh(hdr()->value);
	expect_status(create_id(dead, RDMA_PS_UDP, &id), 0, "rdma_cm CREATE_ID left to the device close");
	printf("cmd_fuzz: rdma_cm relay checked\n");
}
