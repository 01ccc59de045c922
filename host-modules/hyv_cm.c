// SPDX-License-Identifier: GPL-2.0-only
/*
 * The rdma_cm relay (docs/rdma-cm.md). A guest process's rdma_cm file is
 * backed by the host's rdma_cm file opened for QEMU (an rdma_cm context,
 * hyv_context.c), and its write commands run there, in QEMU's context like
 * the uverbs relay's, after the checks below. No guest value is a host
 * pointer or fd: response pointers are rewritten into the context's scratch
 * page, and commands that carry an fd or a user pointer of their own
 * (MIGRATE_ID, SET_OPTION) are not in the allow-list.
 *
 * Addresses belong to the network identity (hyv_gid.c, docs/network.md). A
 * bind or a resolve names one of the instance's own addresses as the source,
 * or none (the wildcard), which becomes the instance's first address of the
 * family (a resolve's: the destination's). An IPv6 wildcard is dual-stack,
 * as on the host, so without an IPv6 address it becomes the first IPv4 one.
 * A guest never binds, and so never listens, on the host's or another VM's
 * addresses. LISTEN and CONNECT run only on a CM ID whose source address,
 * read back from the host, is the instance's. Unisolated
 * instances skip these checks. AF_IB addresses and multicast are not
 * forwarded; IPv6 link-local addresses are refused (their scope names a
 * host interface).
 *
 * GET_EVENT never waits on the host (the file is non-blocking): with no
 * event queued it answers with an empty response, and the guest waits for
 * HYV_EVENT_CM, posted by hyv_events.c when the file has events.
 * Source GID indices the host reports (INIT_QP_ATTR, a UD ID's events)
 * become the guest's. CM IDs count against the instance's quota/cm_ids.
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <net/ipv6.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_cm.h>
#include <rdma/rdma_user_cm.h>

#include "hyv_mdev.h"

/* The most a response of a forwarded command can take: QUERY's path records. */
#define HYV_CM_RESP_MAX 512u

/**
 * struct hyv_cm_cmd_desc - one allow-listed rdma_ucm write command
 * @cmd: RDMA_USER_CM_CMD_* number
 * @req_size: the command struct; the payload must hold at least that
 * @resp_size: the most the command writes to its response pointer (0: it
 *	has none)
 * @resp_ptr: offset of the response pointer in the command struct
 * @fixup: checks or rewrites the command before it runs
 * @done: after it ran: rewrites host values in the response (resp_len bytes
 *	of it written), keeps track
 * @quota: the command's effect on the instance's quota/cm_ids
 */
struct hyv_cm_cmd_desc {
	u32 cmd;
	u32 req_size;
	u32 resp_size;
	u32 resp_ptr;
	int (*fixup)(struct hyv_context *ctx, void *cmd);
	void (*done)(struct hyv_context *ctx, const void *cmd, void *resp, u32 resp_len);
	enum hyv_quota_effect quota;
};

static int hyv_cm_refuse(struct hyv_instance *inst, int err, const char *why)
{
	atomic64_inc(&inst->counters.gid_refusals);
	dev_dbg(&inst->mdev->dev, "rdma_cm address refused: %s (%d)\n", why, err);
	return err;
}

/*
 * An IPv4 or IPv6 socket address as a RoCE GID (IPv4 mapped into IPv6), and
 * whether it is the wildcard. -EAFNOSUPPORT for any other family.
 */
static int hyv_cm_addr_gid(const struct __kernel_sockaddr_storage *ss, u8 raw[16], bool *any)
{
	const struct sockaddr_in *sin = (const void *)ss;
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	struct in6_addr a;

	switch (ss->ss_family) {
	case AF_INET:
		ipv6_addr_set_v4mapped(sin->sin_addr.s_addr, &a);
		*any = sin->sin_addr.s_addr == htonl(INADDR_ANY);
		break;
	case AF_INET6:
		a = sin6->sin6_addr;
		*any = ipv6_addr_any(&a);
		if (ipv6_addr_type(&a) & IPV6_ADDR_LINKLOCAL)
			return -EADDRNOTAVAIL;
		break;
	default:
		return -EAFNOSUPPORT;
	}
	memcpy(raw, &a, sizeof(a));
	return 0;
}

/* The size of ss's address for the commands that carry one (0: no family). */
static u16 hyv_cm_addr_size(const struct __kernel_sockaddr_storage *ss)
{
	switch (ss->ss_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

/* Makes ss an address of family with the same port (both families keep it at one offset). */
static void hyv_cm_set_family(struct __kernel_sockaddr_storage *ss, sa_family_t family)
{
	__be16 port = ((struct sockaddr_in *)ss)->sin_port;

	if (ss->ss_family == family)
		return;
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = family;
	((struct sockaddr_in *)ss)->sin_port = port;
}

/* Writes a GID into the address part of ss; the family and the port stay. */
static void hyv_cm_set_addr(struct __kernel_sockaddr_storage *ss, const u8 raw[16])
{
	struct sockaddr_in *sin = (void *)ss;
	struct sockaddr_in6 *sin6 = (void *)ss;

	if (ss->ss_family == AF_INET) {
		memcpy(&sin->sin_addr.s_addr, raw + 12, sizeof(sin->sin_addr.s_addr));
	} else {
		memcpy(&sin6->sin6_addr, raw, sizeof(sin6->sin6_addr));
		sin6->sin6_scope_id = 0;
	}
}

/*
 * A source address for a bind or a resolve: the instance's own, or none
 * (AF_UNSPEC or the wildcard), which becomes its first address of family
 * (a resolve's destination family; AF_UNSPEC: the source's own). An IPv6
 * wildcard without an IPv6 address in the identity takes the first IPv4 one,
 * as a dual-stack listener on the host would accept IPv4.
 */
static int hyv_cm_own_source(struct hyv_instance *inst, struct __kernel_sockaddr_storage *ss,
			     sa_family_t family)
{
	bool any;
	u8 raw[16];
	int ret;

	if (hyv_gid_unisolated(inst))
		return 0;
	if (ss->ss_family == AF_UNSPEC) {
		memset(ss, 0, sizeof(*ss));
		ss->ss_family = family;
	}
	ret = hyv_cm_addr_gid(ss, raw, &any);
	if (ret)
		return hyv_cm_refuse(inst, ret, "not an IPv4 or global IPv6 address");
	if (any) {
		if (family == AF_UNSPEC)
			family = ss->ss_family;
		ret = hyv_gid_first_addr(inst, family == AF_INET, raw);
		if (ret && family == AF_INET6) {
			family = AF_INET;
			ret = hyv_gid_first_addr(inst, true, raw);
		}
		if (ret)
			return hyv_cm_refuse(inst, ret, "the identity has no address of the family");
		hyv_cm_set_family(ss, family);
		hyv_cm_set_addr(ss, raw);
		return 0;
	}
	if (!hyv_gid_owns(inst, raw))
		return hyv_cm_refuse(inst, -EADDRNOTAVAIL, "a source outside the identity");
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_scope_id = 0;
	return 0;
}

/* A destination: IPv4 or global IPv6 (a link-local scope would name a host interface). */
static int hyv_cm_destination(struct hyv_instance *inst, const struct __kernel_sockaddr_storage *ss)
{
	bool any;
	u8 raw[16];
	int ret = hyv_cm_addr_gid(ss, raw, &any);

	return ret ? hyv_cm_refuse(inst, ret, "a destination that is not IPv4 or global IPv6") : 0;
}

/* The source address of CM ID id, read back from the host, is the instance's. */
static int hyv_cm_id_source_is_own(struct hyv_context *ctx, u32 id)
{
	struct hyv_instance *inst = ctx->inst;
	struct {
		struct rdma_ucm_cmd_hdr hdr;
		struct rdma_ucm_query cmd;
	} c = {
		.hdr = { .cmd = RDMA_USER_CM_CMD_QUERY, .in = sizeof(c.cmd),
			 .out = sizeof(struct rdma_ucm_query_addr_resp) },
		.cmd = { .id = id, .option = RDMA_USER_CM_QUERY_ADDR },
	};
	struct rdma_ucm_query_addr_resp *r;
	bool any;
	u8 raw[16];
	ssize_t ret;

	if (hyv_gid_unisolated(inst))
		return 0;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	ret = hyv_context_relay(ctx, (u8 *)&c, sizeof(c),
				sizeof(c.hdr) + offsetof(struct rdma_ucm_query, response), (u8 *)r,
				sizeof(*r));
	if (ret >= 0) {
		ret = hyv_cm_addr_gid(&r->src_addr, raw, &any);
		if (ret || any || !hyv_gid_owns(inst, raw))
			ret = hyv_cm_refuse(inst, -EADDRNOTAVAIL,
					    "a listen or connect on an ID not bound to the identity");
	}
	kfree(r);
	return ret;
}

/* Only IP port spaces (no AF_IB), and the QP types rdma_cm knows. */
static int hyv_cm_fixup_create_id(struct hyv_context *ctx, void *cmd)
{
	struct rdma_ucm_create_id *c = cmd;

	if (c->ps != RDMA_PS_TCP && c->ps != RDMA_PS_UDP && c->ps != RDMA_PS_IPOIB)
		return -EOPNOTSUPP;
	return 0;
}

/* A UD ID's events carry an address handle whose GID index the guest must get as its own. */
static void hyv_cm_done_create_id(struct hyv_context *ctx, const void *cmd, void *resp,
				  u32 resp_len)
{
	const struct rdma_ucm_create_id *c = cmd;
	const struct rdma_ucm_create_id_resp *r = resp;

	if (c->qp_type == IB_QPT_UD &&
	    xa_err(xa_store(&ctx->cm_ud_ids, r->id, xa_mk_value(1), GFP_KERNEL)))
		dev_warn(&ctx->inst->mdev->dev,
			 "rdma_cm context %u: UD ID %u not tracked; its events keep host GID indices\n",
			 ctx->handle, r->id);
}

static void hyv_cm_done_destroy_id(struct hyv_context *ctx, const void *cmd, void *resp,
				   u32 resp_len)
{
	const struct rdma_ucm_destroy_id *c = cmd;

	xa_erase(&ctx->cm_ud_ids, c->id);
}

static int hyv_cm_fixup_bind(struct hyv_context *ctx, void *cmd)
{
	struct rdma_ucm_bind *c = cmd;
	sa_family_t asked = c->addr.ss_family;
	int ret;

	if (asked == AF_UNSPEC)
		return -EAFNOSUPPORT;
	ret = hyv_cm_own_source(ctx->inst, &c->addr, AF_UNSPEC);
	/* An IPv6 wildcard that became IPv4 (the size is still checked on the host otherwise). */
	if (!ret && c->addr.ss_family != asked)
		c->addr_size = hyv_cm_addr_size(&c->addr);
	return ret;
}

/* The older commands carry a sockaddr_in6 that may hold a sockaddr_in. */
static int hyv_cm_own_source_in6(struct hyv_instance *inst, struct sockaddr_in6 *sin6,
				 sa_family_t family)
{
	struct __kernel_sockaddr_storage ss = {};
	int ret;

	memcpy(&ss, sin6, sizeof(*sin6));
	ret = hyv_cm_own_source(inst, &ss, family);
	if (!ret)
		memcpy(sin6, &ss, sizeof(*sin6));
	return ret;
}

static int hyv_cm_fixup_bind_ip(struct hyv_context *ctx, void *cmd)
{
	struct rdma_ucm_bind_ip *c = cmd;

	if (c->addr.sin6_family == AF_UNSPEC)
		return -EAFNOSUPPORT;
	return hyv_cm_own_source_in6(ctx->inst, &c->addr, AF_UNSPEC);
}

static int hyv_cm_fixup_resolve_addr(struct hyv_context *ctx, void *cmd)
{
	struct rdma_ucm_resolve_addr *c = cmd;
	u16 size;
	int ret;

	ret = hyv_cm_destination(ctx->inst, &c->dst_addr);
	if (ret)
		return ret;
	if (!c->src_size)
		memset(&c->src_addr, 0, sizeof(c->src_addr));
	ret = hyv_cm_own_source(ctx->inst, &c->src_addr, c->dst_addr.ss_family);
	if (ret)
		return ret;
	size = hyv_cm_addr_size(&c->src_addr);
	if (size)
		c->src_size = size;
	return 0;
}

static int hyv_cm_fixup_resolve_ip(struct hyv_context *ctx, void *cmd)
{
	struct rdma_ucm_resolve_ip *c = cmd;
	struct __kernel_sockaddr_storage dst = {};
	int ret;

	memcpy(&dst, &c->dst_addr, sizeof(c->dst_addr));
	ret = hyv_cm_destination(ctx->inst, &dst);
	if (ret)
		return ret;
	return hyv_cm_own_source_in6(ctx->inst, &c->src_addr, dst.ss_family);
}

static int hyv_cm_fixup_listen(struct hyv_context *ctx, void *cmd)
{
	return hyv_cm_id_source_is_own(ctx, ((struct rdma_ucm_listen *)cmd)->id);
}

static int hyv_cm_fixup_connect(struct hyv_context *ctx, void *cmd)
{
	return hyv_cm_id_source_is_own(ctx, ((struct rdma_ucm_connect *)cmd)->id);
}

/* QUERY: the address, path or GID options; each response fits HYV_CM_RESP_MAX. */
static int hyv_cm_fixup_query(struct hyv_context *ctx, void *cmd)
{
	struct rdma_ucm_query *c = cmd;

	switch (c->option) {
	case RDMA_USER_CM_QUERY_ADDR:
	case RDMA_USER_CM_QUERY_PATH:
	case RDMA_USER_CM_QUERY_GID:
		return 0;
	default:
		return -EINVAL;
	}
}

/* A host source GID index in an address the guest reads becomes the guest's. */
static void hyv_cm_ah_to_guest(struct hyv_instance *inst, struct ib_uverbs_ah_attr *ah)
{
	u32 guest_index;

	if (!ah->is_global)
		return;
	if (hyv_gid_to_guest(inst, ah->port_num, ah->grh.sgid_index, &guest_index))
		guest_index = 0;	/* not the instance's: the guest's modify is refused then */
	ah->grh.sgid_index = guest_index;
}

static void hyv_cm_done_init_qp_attr(struct hyv_context *ctx, const void *cmd, void *resp,
				     u32 resp_len)
{
	struct ib_uverbs_qp_attr *r = resp;

	hyv_cm_ah_to_guest(ctx->inst, &r->ah_attr);
	hyv_cm_ah_to_guest(ctx->inst, &r->alt_ah_attr);
}

static void hyv_cm_done_get_event(struct hyv_context *ctx, const void *cmd, void *resp,
				  u32 resp_len)
{
	struct rdma_ucm_event_resp *r = resp;

	/* Only a UD ID's events carry the ud parameter, with its address handle. */
	if (xa_load(&ctx->cm_ud_ids, r->id))
		hyv_cm_ah_to_guest(ctx->inst, &r->param.ud.ah_attr);
	/*
	 * A connection request hands over a new ID, which the host's CM made:
	 * it counts in quota/cm_ids and may go past the limit (the peer chose
	 * it; the guest can only destroy it, which gives it back).
	 */
	if (resp_len >= offsetofend(struct rdma_ucm_event_resp, event) &&
	    r->event == RDMA_CM_EVENT_CONNECT_REQUEST)
		hyv_quota_add(ctx, HYV_RES_CM_ID, 1);
}

static const struct hyv_cm_cmd_desc hyv_cm_allowed[] = {
	{ .cmd = RDMA_USER_CM_CMD_CREATE_ID, .req_size = sizeof(struct rdma_ucm_create_id),
	  .resp_size = sizeof(struct rdma_ucm_create_id_resp),
	  .resp_ptr = offsetof(struct rdma_ucm_create_id, response),
	  .fixup = hyv_cm_fixup_create_id, .done = hyv_cm_done_create_id,
	  .quota = HYV_QUOTA_CREATES },
	{ .cmd = RDMA_USER_CM_CMD_DESTROY_ID, .req_size = sizeof(struct rdma_ucm_destroy_id),
	  .resp_size = sizeof(struct rdma_ucm_destroy_id_resp),
	  .resp_ptr = offsetof(struct rdma_ucm_destroy_id, response),
	  .done = hyv_cm_done_destroy_id, .quota = HYV_QUOTA_DESTROYS },
	{ .cmd = RDMA_USER_CM_CMD_BIND_IP, .req_size = sizeof(struct rdma_ucm_bind_ip),
	  .fixup = hyv_cm_fixup_bind_ip },
	{ .cmd = RDMA_USER_CM_CMD_BIND, .req_size = sizeof(struct rdma_ucm_bind),
	  .fixup = hyv_cm_fixup_bind },
	{ .cmd = RDMA_USER_CM_CMD_RESOLVE_IP, .req_size = sizeof(struct rdma_ucm_resolve_ip),
	  .fixup = hyv_cm_fixup_resolve_ip },
	{ .cmd = RDMA_USER_CM_CMD_RESOLVE_ADDR, .req_size = sizeof(struct rdma_ucm_resolve_addr),
	  .fixup = hyv_cm_fixup_resolve_addr },
	{ .cmd = RDMA_USER_CM_CMD_RESOLVE_ROUTE, .req_size = sizeof(struct rdma_ucm_resolve_route) },
	{ .cmd = RDMA_USER_CM_CMD_QUERY_ROUTE, .req_size = sizeof(struct rdma_ucm_query),
	  .resp_size = sizeof(struct rdma_ucm_query_route_resp),
	  .resp_ptr = offsetof(struct rdma_ucm_query, response) },
	{ .cmd = RDMA_USER_CM_CMD_QUERY, .req_size = sizeof(struct rdma_ucm_query),
	  .resp_size = HYV_CM_RESP_MAX, .resp_ptr = offsetof(struct rdma_ucm_query, response),
	  .fixup = hyv_cm_fixup_query },
	{ .cmd = RDMA_USER_CM_CMD_CONNECT, .req_size = sizeof(struct rdma_ucm_connect),
	  .fixup = hyv_cm_fixup_connect },
	{ .cmd = RDMA_USER_CM_CMD_LISTEN, .req_size = sizeof(struct rdma_ucm_listen),
	  .fixup = hyv_cm_fixup_listen },
	{ .cmd = RDMA_USER_CM_CMD_ACCEPT, .req_size = sizeof(struct rdma_ucm_accept) },
	{ .cmd = RDMA_USER_CM_CMD_REJECT, .req_size = sizeof(struct rdma_ucm_reject) },
	{ .cmd = RDMA_USER_CM_CMD_DISCONNECT, .req_size = sizeof(struct rdma_ucm_disconnect) },
	{ .cmd = RDMA_USER_CM_CMD_INIT_QP_ATTR, .req_size = sizeof(struct rdma_ucm_init_qp_attr),
	  .resp_size = sizeof(struct ib_uverbs_qp_attr),
	  .resp_ptr = offsetof(struct rdma_ucm_init_qp_attr, response),
	  .done = hyv_cm_done_init_qp_attr },
	{ .cmd = RDMA_USER_CM_CMD_GET_EVENT, .req_size = sizeof(struct rdma_ucm_get_event),
	  .resp_size = sizeof(struct rdma_ucm_event_resp),
	  .resp_ptr = offsetof(struct rdma_ucm_get_event, response),
	  .done = hyv_cm_done_get_event },
	{ .cmd = RDMA_USER_CM_CMD_NOTIFY, .req_size = sizeof(struct rdma_ucm_notify) },
};

static const struct hyv_cm_cmd_desc *hyv_cm_lookup(u32 cmd)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(hyv_cm_allowed); i++)
		if (hyv_cm_allowed[i].cmd == cmd)
			return &hyv_cm_allowed[i];
	return NULL;
}

static ssize_t hyv_cm_refuse_cmd(struct hyv_instance *inst, u32 cmd, int err, const char *why)
{
	dev_dbg(&inst->mdev->dev, "rdma_cm command %u refused: %s (%d)\n", cmd, why, err);
	return err;
}

/*
 * payload: in_len bytes in the rdma_ucm write ABI, from the guest; resp:
 * out_len bytes. Returns the response length or a negative errno.
 */
ssize_t hyv_cm_write(struct hyv_instance *inst, struct hyv_context *ctx, u8 *payload,
		     u32 in_len, u8 *resp, u32 out_len)
{
	const struct hyv_cm_cmd_desc *desc;
	struct rdma_ucm_cmd_hdr hdr;
	void *body = payload + sizeof(hdr);
	u32 resp_len = 0;
	ssize_t ret;

	if (in_len < sizeof(hdr))
		return -EINVAL;
	memcpy(&hdr, payload, sizeof(hdr));
	desc = hyv_cm_lookup(hdr.cmd);
	if (!desc)
		return hyv_cm_refuse_cmd(inst, hdr.cmd, -EOPNOTSUPP, "not in the allow-list");
	if (hdr.in != in_len - sizeof(hdr) || hdr.in < desc->req_size)
		return hyv_cm_refuse_cmd(inst, hdr.cmd, -EINVAL, "wrong command size");
	if (desc->resp_size) {
		resp_len = min3(hdr.out, desc->resp_size, out_len);
		/* rdma_ucm refuses short responses too; the pointer must be rewritten anyway. */
		if (!resp_len)
			return hyv_cm_refuse_cmd(inst, hdr.cmd, -ENOSPC, "no response buffer");
	}
	/* rdma_ucm writes at most hdr.out bytes: what the scratch page has room for. */
	hdr.out = resp_len;
	memcpy(payload, &hdr, sizeof(hdr));
	if (desc->fixup) {
		ret = desc->fixup(ctx, body);
		if (ret)
			return hyv_cm_refuse_cmd(inst, hdr.cmd, ret, "a field the host checks");
	}
	if (desc->quota == HYV_QUOTA_CREATES) {
		ret = hyv_quota_check(inst, HYV_RES_CM_ID, 1);
		if (ret)
			return hyv_cm_refuse_cmd(inst, hdr.cmd, ret, "the instance's quota is used up");
	}
	ret = hyv_context_relay(ctx, payload, in_len, sizeof(hdr) + desc->resp_ptr, resp, resp_len);
	/* Nothing queued is no error: an empty response, not a failed command counted as one. */
	if (ret == -EAGAIN && hdr.cmd == RDMA_USER_CM_CMD_GET_EVENT)
		return 0;
	if (ret < 0)
		return ret;
	if (desc->done)
		desc->done(ctx, body, resp, resp_len);
	/* The context's close gives back what is left. */
	hyv_quota_apply(ctx, HYV_RES_CM_ID, desc->quota);
	return resp_len;
}
