// SPDX-License-Identifier: GPL-2.0-only
/*
 * The command channel in BAR0's control area. A doorbell write arrives as
 * QEMU's pwrite() on the vfio device fd, so it runs in QEMU's process context:
 * the command is read from guest memory with vfio_dma_rw() (VFIO's IOVA map is
 * QEMU's guest-physical -> host-virtual map, kept current by QEMU), executed,
 * and its response written back the same way before the guest's write
 * completes. Every field of a command is checked here; a malformed command
 * fails with an errno in HYV_CTRL_STATUS (and in the command header when that
 * is reachable) and is counted, nothing else happens.
 */
#include <linux/nospec.h>
#include <linux/slab.h>
#include <asm/unaligned.h>
#include <rdma/ib_user_verbs.h>

#include "hyv_mdev.h"

struct hyv_cmd {
	struct hyv_cmd_hdr hdr;
	u32 op, ctx, in_len, out_len, resp_off;
	u8 *payload;	/* in_len bytes */
	u8 *resp;	/* out_len bytes */
	u32 resp_len;
	u64 value;
};

void hyv_ctrl_init(struct hyv_instance *inst)
{
	mutex_init(&inst->ctrl.lock);
}

/* On close of the vfio device (QEMU exit, unplug) and on a reset: every guest context dies. */
void hyv_ctrl_release(struct hyv_instance *inst)
{
	struct hyv_ctrl *ctrl = &inst->ctrl;
	unsigned int i;

	mutex_lock(&ctrl->lock);
	for (i = 0; i < HYV_MAX_CONTEXTS; i++) {
		if (ctrl->contexts[i]) {
			hyv_context_close(ctrl->contexts[i]);
			ctrl->contexts[i] = NULL;
		}
	}
	ctrl->cmd_addr = 0;
	ctrl->cmd_len = 0;
	ctrl->status = 0;
	ctrl->commands = 0;
	ctrl->failed = 0;
	mutex_unlock(&ctrl->lock);
	/* A new driver numbers its GIDs anew, or not at all. */
	hyv_gid_forget_guest(inst);
}

static struct hyv_context *hyv_ctx_lookup_any(struct hyv_ctrl *ctrl, u32 handle)
{
	if (handle >= HYV_MAX_CONTEXTS)
		return NULL;
	return ctrl->contexts[array_index_nospec(handle, HYV_MAX_CONTEXTS)];
}

/* A context of that kind: a verbs command never reaches an rdma_cm file, nor the reverse. */
static struct hyv_context *hyv_ctx_lookup(struct hyv_ctrl *ctrl, u32 handle,
					  enum hyv_context_kind kind)
{
	struct hyv_context *ctx = hyv_ctx_lookup_any(ctrl, handle);

	return ctx && ctx->kind == kind ? ctx : NULL;
}

static int hyv_ctx_open(struct hyv_instance *inst, struct hyv_cmd *cmd,
			enum hyv_context_kind kind)
{
	struct hyv_ctrl *ctrl = &inst->ctrl;
	struct hyv_context *ctx;
	unsigned int i;
	int ret;

	if (cmd->in_len || cmd->out_len)
		return -EINVAL;
	for (i = 0; i < HYV_MAX_CONTEXTS && ctrl->contexts[i]; i++)
		;
	if (i == HYV_MAX_CONTEXTS)
		return -EMFILE;
	ret = hyv_context_open(inst, kind, &ctx);
	if (ret)
		return ret;
	ctx->handle = i;
	ctrl->contexts[i] = ctx;
	cmd->value = i;
	return 0;
}

static int hyv_op_ctx_close(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_context *ctx = hyv_ctx_lookup_any(&inst->ctrl, cmd->ctx);

	if (!ctx || cmd->in_len || cmd->out_len)
		return -EINVAL;
	inst->ctrl.contexts[array_index_nospec(cmd->ctx, HYV_MAX_CONTEXTS)] = NULL;
	hyv_context_close(ctx);
	return 0;
}

static int hyv_op_uverbs_write(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_context *ctx = hyv_ctx_lookup(&inst->ctrl, cmd->ctx, HYV_CONTEXT_VERBS);
	ssize_t ret;

	if (!ctx)
		return -EINVAL;
	ret = hyv_uverbs_write(inst, ctx, cmd->payload, cmd->in_len, cmd->resp, cmd->out_len);
	if (ret < 0)
		return ret;
	cmd->resp_len = ret;
	return 0;
}

static int hyv_op_cm_write(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_context *ctx = hyv_ctx_lookup(&inst->ctrl, cmd->ctx, HYV_CONTEXT_CM);
	ssize_t ret;

	if (!ctx)
		return -EINVAL;
	ret = hyv_cm_write(inst, ctx, cmd->payload, cmd->in_len, cmd->resp, cmd->out_len);
	if (ret < 0)
		return ret;
	cmd->resp_len = ret;
	return 0;
}

static int hyv_op_query_gid(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_query_gid q;
	struct hyv_gid_entry entry;
	int ret;

	if (cmd->in_len != sizeof(q) || cmd->out_len < sizeof(entry))
		return -EINVAL;
	memcpy(&q, cmd->payload, sizeof(q));
	ret = hyv_gid_query(inst, le32_to_cpu(q.port), le32_to_cpu(q.index), &entry);
	if (ret)
		return ret;
	memcpy(cmd->resp, &entry, sizeof(entry));
	cmd->resp_len = sizeof(entry);
	return 0;
}

static int hyv_op_set_gid(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_set_gid req;

	if (cmd->in_len != sizeof(req) || cmd->out_len)
		return -EINVAL;
	memcpy(&req, cmd->payload, sizeof(req));
	return hyv_gid_declare(inst, &req);
}

static int hyv_op_query_identity(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_identity id;

	if (cmd->in_len || cmd->out_len < sizeof(id))
		return -EINVAL;
	hyv_gid_identity(inst, &id);
	memcpy(cmd->resp, &id, sizeof(id));
	cmd->resp_len = sizeof(id);
	return 0;
}

static int hyv_op_query_pkey(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_query_pkey q;
	struct hyv_pkey_entry entry = {};
	u16 pkey;
	int ret;

	if (cmd->in_len != sizeof(q) || cmd->out_len < sizeof(entry))
		return -EINVAL;
	memcpy(&q, cmd->payload, sizeof(q));
	ret = hyv_parent_query_pkey(inst->parent, le32_to_cpu(q.port), le32_to_cpu(q.index), &pkey);
	if (ret)
		return ret;
	entry.pkey = cpu_to_le16(pkey);
	memcpy(cmd->resp, &entry, sizeof(entry));
	cmd->resp_len = sizeof(entry);
	return 0;
}

static int hyv_op_window_release(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_context *ctx = hyv_ctx_lookup(&inst->ctrl, cmd->ctx, HYV_CONTEXT_VERBS);
	struct hyv_window_release r;

	if (!ctx || cmd->in_len != sizeof(r) || cmd->out_len)
		return -EINVAL;
	memcpy(&r, cmd->payload, sizeof(r));
	return hyv_uverbs_window_release(inst, ctx, le64_to_cpu(r.offset));
}

static int hyv_op_reg_mr(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_context *ctx = hyv_ctx_lookup(&inst->ctrl, cmd->ctx, HYV_CONTEXT_VERBS);
	int ret;

	if (!ctx)
		return -EINVAL;
	ret = hyv_mr_register(inst, ctx, cmd->payload, cmd->in_len, cmd->resp, cmd->out_len);
	if (ret)
		return ret;
	cmd->resp_len = sizeof(struct hyv_reg_mr_resp);
	return 0;
}

static int hyv_op_event_ring(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	struct hyv_event_ring r;

	if (cmd->in_len != sizeof(r) || cmd->out_len)
		return -EINVAL;
	memcpy(&r, cmd->payload, sizeof(r));
	return hyv_events_set_ring(inst, &r);
}

static int hyv_dispatch(struct hyv_instance *inst, struct hyv_cmd *cmd)
{
	switch (cmd->op) {
	case HYV_OP_CTX_OPEN:
		return hyv_ctx_open(inst, cmd, HYV_CONTEXT_VERBS);
	case HYV_OP_CM_OPEN:
		return hyv_ctx_open(inst, cmd, HYV_CONTEXT_CM);
	case HYV_OP_CM_WRITE:
		return hyv_op_cm_write(inst, cmd);
	case HYV_OP_CTX_CLOSE:
		return hyv_op_ctx_close(inst, cmd);
	case HYV_OP_UVERBS_WRITE:
		return hyv_op_uverbs_write(inst, cmd);
	case HYV_OP_QUERY_GID:
		return hyv_op_query_gid(inst, cmd);
	case HYV_OP_QUERY_PKEY:
		return hyv_op_query_pkey(inst, cmd);
	case HYV_OP_WINDOW_RELEASE:
		return hyv_op_window_release(inst, cmd);
	case HYV_OP_REG_MR:
		return hyv_op_reg_mr(inst, cmd);
	case HYV_OP_EVENT_RING:
		return hyv_op_event_ring(inst, cmd);
	case HYV_OP_SET_GID:
		return hyv_op_set_gid(inst, cmd);
	case HYV_OP_QUERY_IDENTITY:
		return hyv_op_query_identity(inst, cmd);
	default:
		return -EOPNOTSUPP;
	}
}

/* Header sanity: the lengths must describe exactly the buffer the guest gave. */
static int hyv_cmd_parse(struct hyv_cmd *cmd, u32 cmd_len)
{
	u64 total;

	cmd->op = le32_to_cpu(cmd->hdr.op);
	cmd->ctx = le32_to_cpu(cmd->hdr.ctx);
	cmd->in_len = le32_to_cpu(cmd->hdr.in_len);
	cmd->out_len = le32_to_cpu(cmd->hdr.out_len);
	if (cmd->in_len > HYV_CMD_MAX_LEN || cmd->out_len > HYV_CMD_MAX_LEN)
		return -EINVAL;
	cmd->resp_off = sizeof(cmd->hdr) + ALIGN(cmd->in_len, HYV_CMD_ALIGN);
	total = (u64)cmd->resp_off + cmd->out_len;
	if (total != cmd_len)
		return -EINVAL;
	return 0;
}

/* Runs the doorbell. Called with ctrl->lock held, in QEMU's context. */
static int hyv_doorbell(struct hyv_instance *inst)
{
	struct hyv_ctrl *ctrl = &inst->ctrl;
	struct hyv_cmd cmd = {};
	u8 *buf;
	int ret, wret;

	lockdep_assert_held(&ctrl->lock);
	/* Set under inst->lock by the host device's removal; a stale read only delays ENODEV. */
	if (READ_ONCE(inst->dead))
		return -ENODEV;
	if (ctrl->cmd_len < sizeof(cmd.hdr) || ctrl->cmd_len > HYV_CMD_MAX_LEN ||
	    ctrl->cmd_addr + ctrl->cmd_len < ctrl->cmd_addr)
		return -EINVAL;

	buf = kzalloc(HYV_CMD_MAX_LEN, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	/* Fails (-EINVAL/-EPERM) for addresses outside the guest RAM QEMU mapped. */
	ret = vfio_dma_rw(&inst->vdev, ctrl->cmd_addr, buf, ctrl->cmd_len, false);
	if (ret)
		goto out;
	memcpy(&cmd.hdr, buf, sizeof(cmd.hdr));
	ret = hyv_cmd_parse(&cmd, ctrl->cmd_len);
	if (ret)
		goto respond;
	cmd.payload = buf + sizeof(cmd.hdr);
	cmd.resp = buf + cmd.resp_off;
	memset(cmd.resp, 0, cmd.out_len);

	ret = hyv_dispatch(inst, &cmd);
	if (!ret && cmd.resp_len > cmd.out_len)
		ret = -EOVERFLOW;	/* cannot happen: every op bounds resp_len */
	if (!ret && cmd.resp_len) {
		ret = vfio_dma_rw(&inst->vdev, ctrl->cmd_addr + cmd.resp_off, cmd.resp,
				  cmd.resp_len, true);
		if (ret)
			goto out;
	}

respond:
	cmd.hdr.status = cpu_to_le32(-ret);
	cmd.hdr.resp_len = cpu_to_le32(ret ? 0 : cmd.resp_len);
	cmd.hdr.value = cpu_to_le64(ret ? 0 : cmd.value);
	wret = vfio_dma_rw(&inst->vdev, ctrl->cmd_addr, &cmd.hdr, sizeof(cmd.hdr), true);
	if (!ret)
		ret = wret;
out:
	kfree(buf);
	return ret;
}

/* Every doorbell and kick counts; the failed ones in FAILED and command_errors too. */
static void hyv_ctrl_count(struct hyv_instance *inst, int ret)
{
	inst->ctrl.commands++;
	atomic64_inc(&inst->counters.commands);
	if (ret) {
		inst->ctrl.failed++;
		atomic64_inc(&inst->counters.command_errors);
	}
}

/*
 * HYV_CTRL_SEND_KICK: a POST_SEND without work requests on the QP the value
 * names, through the same allow-list as the command (hyv_uverbs_write).
 * Called with ctrl->lock held, in QEMU's context.
 */
static int hyv_send_kick(struct hyv_instance *inst, u32 value)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_post_send cmd;
	} c = {
		.hdr = { .command = IB_USER_VERBS_CMD_POST_SEND, .in_words = sizeof(c) / 4,
			 .out_words = sizeof(struct ib_uverbs_post_send_resp) / 4 },
		.cmd = { .qp_handle = value & HYV_KICK_HANDLE_MASK },
	};
	struct ib_uverbs_post_send_resp resp;
	struct hyv_context *ctx;
	ssize_t ret;

	lockdep_assert_held(&inst->ctrl.lock);
	if (READ_ONCE(inst->dead))
		return -ENODEV;
	ctx = hyv_ctx_lookup(&inst->ctrl, value >> HYV_KICK_CTX_SHIFT, HYV_CONTEXT_VERBS);
	if (!ctx)
		return -EINVAL;
	ret = hyv_uverbs_write(inst, ctx, (u8 *)&c, sizeof(c), (u8 *)&resp, sizeof(resp));
	return ret < 0 ? ret : 0;
}

/*
 * 32-bit accesses to the control registers. Runs without inst->lock: a
 * command can take long (it runs a host verb) and must not stall config or
 * interrupt handling of the same function.
 */
ssize_t hyv_ctrl_access(struct hyv_instance *inst, u32 offset, u8 *buf, size_t count,
			bool is_write)
{
	struct hyv_ctrl *ctrl = &inst->ctrl;
	u32 value = 0;
	int ret;

	if (count != sizeof(u32) || !IS_ALIGNED(offset, sizeof(u32)) ||
	    offset >= HYV_CTRL_REGS_END)
		goto bad;
	if (is_write)
		value = get_unaligned_le32(buf);

	mutex_lock(&ctrl->lock);
	switch (offset | (u32)is_write << 31) {
	case HYV_CTRL_CMD_ADDR_LO | 1u << 31:
		ctrl->cmd_addr = (ctrl->cmd_addr & ~(u64)U32_MAX) | value;
		break;
	case HYV_CTRL_CMD_ADDR_HI | 1u << 31:
		ctrl->cmd_addr = (ctrl->cmd_addr & U32_MAX) | (u64)value << 32;
		break;
	case HYV_CTRL_CMD_LEN | 1u << 31:
		ctrl->cmd_len = value;
		break;
	case HYV_CTRL_DOORBELL | 1u << 31:
		if (value != HYV_CTRL_DOORBELL_RUN) {
			mutex_unlock(&ctrl->lock);
			goto bad;
		}
		ret = hyv_doorbell(inst);
		ctrl->status = -ret;
		hyv_ctrl_count(inst, ret);
		if (ret)
			dev_dbg(&inst->mdev->dev, "command at %#llx len %u failed: %d\n",
				ctrl->cmd_addr, ctrl->cmd_len, ret);
		break;
	case HYV_CTRL_SEND_KICK | 1u << 31:
		ret = hyv_send_kick(inst, value);
		hyv_ctrl_count(inst, ret);
		if (ret)
			dev_dbg(&inst->mdev->dev, "send kick %#x failed: %d\n", value, ret);
		break;
	case HYV_CTRL_CMD_ADDR_LO:
		value = lower_32_bits(ctrl->cmd_addr);
		break;
	case HYV_CTRL_CMD_ADDR_HI:
		value = upper_32_bits(ctrl->cmd_addr);
		break;
	case HYV_CTRL_CMD_LEN:
		value = ctrl->cmd_len;
		break;
	case HYV_CTRL_DOORBELL:
		value = 0;
		break;
	case HYV_CTRL_STATUS:
		value = ctrl->status;
		break;
	case HYV_CTRL_COMMANDS:
		value = ctrl->commands;
		break;
	case HYV_CTRL_FAILED:
		value = ctrl->failed;
		break;
	default:
		/* Writes to read-only registers. */
		mutex_unlock(&ctrl->lock);
		goto bad;
	}
	mutex_unlock(&ctrl->lock);
	if (!is_write)
		put_unaligned_le32(value, buf);
	return count;

bad:
	atomic64_inc(&inst->counters.bad_accesses);
	if (!is_write)
		memset(buf, 0, count);
	return count;
}
