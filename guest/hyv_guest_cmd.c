// SPDX-License-Identifier: GPL-2.0-only
/*
 * The command channel to the host (docs/control-path.md): one DMA-coherent
 * command buffer, filled under cmd_lock, its address written to BAR0's
 * control registers and the doorbell rung. The doorbell write traps and the
 * host runs the command before it completes, so reading the status register
 * afterwards finds the response in the buffer.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <rdma/ib_user_verbs.h>

#include "hyv_guest.h"

#define HYV_BAR2 2

int hyv_cmd_init(struct hyv_dev *hdev, struct pci_dev *pdev)
{
	int ret;

	mutex_init(&hdev->cmd_lock);
	/* BAR2 is only ever mapped into processes, through their rings' mmap entries. */
	hdev->bar2_start = pci_resource_start(pdev, HYV_BAR2);
	hdev->bar2_len = pci_resource_len(pdev, HYV_BAR2);
	if (!hdev->bar2_start || hdev->bar2_len < HYV_BAR2_SIZE ||
	    !(pci_resource_flags(pdev, HYV_BAR2) & IORESOURCE_MEM))
		return -ENODEV;
	ret = pci_request_region(pdev, HYV_BAR2, KBUILD_MODNAME);
	if (ret)
		return ret;
	hdev->ctrl = pci_iomap_range(pdev, 0, HYV_BAR0_CONTROL_OFFSET, HYV_BAR0_CONTROL_SIZE);
	if (!hdev->ctrl) {
		ret = -ENOMEM;
		goto err_region;
	}
	hdev->cmd = dma_alloc_coherent(&pdev->dev, HYV_CMD_MAX_LEN, &hdev->cmd_dma, GFP_KERNEL);
	if (!hdev->cmd) {
		ret = -ENOMEM;
		goto err_unmap;
	}
	return 0;

err_unmap:
	pci_iounmap(pdev, hdev->ctrl);
	hdev->ctrl = NULL;
err_region:
	pci_release_region(pdev, HYV_BAR2);
	return ret;
}

void hyv_cmd_cleanup(struct hyv_dev *hdev, struct pci_dev *pdev)
{
	dma_free_coherent(&pdev->dev, HYV_CMD_MAX_LEN, hdev->cmd, hdev->cmd_dma);
	pci_iounmap(pdev, hdev->ctrl);
	pci_release_region(pdev, HYV_BAR2);
	mutex_destroy(&hdev->cmd_lock);
}

/* May run in interrupt context (config change). */
void hyv_cmd_mark_dead(struct hyv_dev *hdev)
{
	WRITE_ONCE(hdev->dead, true);
}

/*
 * Runs one command. in/in_len: payload; out/out_len: response buffer.
 * Returns 0 or a negative errno (the host's status, or the driver's own).
 */
int hyv_cmd_exec(struct hyv_dev *hdev, u32 op, u32 ctx, const void *in, u32 in_len, void *out,
		 u32 out_len, u32 *resp_len, u64 *value)
{
	u32 resp_off = sizeof(*hdev->cmd) + ALIGN(in_len, HYV_CMD_ALIGN);
	u32 total = resp_off + out_len;
	u32 status, got;
	int ret = 0;

	if (in_len > HYV_CMD_MAX_LEN || out_len > HYV_CMD_MAX_LEN || total > HYV_CMD_MAX_LEN)
		return -EINVAL;

	mutex_lock(&hdev->cmd_lock);
	if (READ_ONCE(hdev->dead)) {
		ret = -ENODEV;
		goto out;
	}
	memset(hdev->cmd, 0, total);
	hdev->cmd->op = cpu_to_le32(op);
	hdev->cmd->ctx = cpu_to_le32(ctx);
	hdev->cmd->in_len = cpu_to_le32(in_len);
	hdev->cmd->out_len = cpu_to_le32(out_len);
	if (in_len)
		memcpy(hdev->cmd + 1, in, in_len);

	iowrite32(lower_32_bits(hdev->cmd_dma), hdev->ctrl + HYV_CTRL_CMD_ADDR_LO);
	iowrite32(upper_32_bits(hdev->cmd_dma), hdev->ctrl + HYV_CTRL_CMD_ADDR_HI);
	iowrite32(total, hdev->ctrl + HYV_CTRL_CMD_LEN);
	iowrite32(HYV_CTRL_DOORBELL_RUN, hdev->ctrl + HYV_CTRL_DOORBELL);
	status = ioread32(hdev->ctrl + HYV_CTRL_STATUS);
	if (status) {
		/* A removed function reads all ones. */
		ret = status < MAX_ERRNO ? -(int)status : -ENODEV;
		goto out;
	}
	got = le32_to_cpu(hdev->cmd->resp_len);
	if (got > out_len) {
		ret = -EPROTO;
		goto out;
	}
	if (got)
		memcpy(out, (u8 *)hdev->cmd + resp_off, got);
	if (resp_len)
		*resp_len = got;
	if (value)
		*value = le64_to_cpu(hdev->cmd->value);
out:
	mutex_unlock(&hdev->cmd_lock);
	return ret;
}

/* A command whose response must fill out exactly (fixed-size replies). */
int hyv_cmd_exec_exact(struct hyv_dev *hdev, u32 op, u32 ctx, const void *in, u32 in_len,
		       void *out, u32 out_len)
{
	u32 got;
	int ret;

	ret = hyv_cmd_exec(hdev, op, ctx, in, in_len, out, out_len, &got, NULL);
	if (ret)
		return ret;
	return got == out_len ? 0 : -EPROTO;
}

int hyv_ctx_open(struct hyv_dev *hdev, u32 *ctx)
{
	u64 value;
	int ret;

	ret = hyv_cmd_exec(hdev, HYV_OP_CTX_OPEN, 0, NULL, 0, NULL, 0, NULL, &value);
	if (ret)
		return ret;
	if (value >= HYV_MAX_CONTEXTS)
		return -EPROTO;
	*ctx = value;
	return 0;
}

/* The device context: a host uverbs context for device-wide queries (uverbs runs them only in one). */
int hyv_device_ctx_open(struct hyv_dev *hdev)
{
	struct ib_uverbs_get_context cmd = {};
	struct ib_uverbs_get_context_resp r;
	int ret;

	ret = hyv_ctx_open(hdev, &hdev->dev_ctx);
	if (ret)
		return ret;
	ret = hyv_uverbs_cmd(hdev, hdev->dev_ctx, IB_USER_VERBS_CMD_GET_CONTEXT, &cmd, sizeof(cmd),
			     NULL, &r, sizeof(r));
	if (ret)
		hyv_ctx_close(hdev, hdev->dev_ctx);
	return ret;
}

void hyv_ctx_close(struct hyv_dev *hdev, u32 ctx)
{
	int ret = hyv_cmd_exec(hdev, HYV_OP_CTX_CLOSE, ctx, NULL, 0, NULL, 0, NULL, NULL);

	if (ret && ret != -ENODEV)
		dev_warn(&hdev->vdev->dev, "closing host context %u failed: %d\n", ctx, ret);
}

/*
 * One uverbs write command on host context ctx: the header, body (which
 * starts with the response pointer the host fills in, when the command has a
 * response), then the provider's udata in; the response is resp_len bytes of
 * the command's own response followed by the provider's udata out, which goes
 * to drv_out (udata->outlen bytes) when given, else straight to the caller.
 */
int hyv_uverbs_cmd_drv(struct hyv_dev *hdev, u32 ctx, u32 command, const void *body, u32 body_len,
		       struct ib_udata *udata, void *resp, u32 resp_len, void *drv_out)
{
	u32 udata_in = udata ? udata->inlen : 0, udata_out = udata ? udata->outlen : 0;
	u32 in_len = sizeof(struct ib_uverbs_cmd_hdr) + body_len + udata_in;
	u32 out_len = resp_len + udata_out;
	struct ib_uverbs_cmd_hdr *hdr;
	u8 *in, *out;
	int ret;

	/* The write ABI counts in 4-byte words. */
	if (!IS_ALIGNED(in_len, 4) || !IS_ALIGNED(out_len, 4) ||
	    in_len > HYV_CMD_MAX_LEN || out_len > HYV_CMD_MAX_LEN)
		return -EINVAL;
	in = kzalloc(in_len, GFP_KERNEL);
	out = kzalloc(out_len ?: 1, GFP_KERNEL);
	if (!in || !out) {
		ret = -ENOMEM;
		goto out;
	}
	hdr = (struct ib_uverbs_cmd_hdr *)in;
	hdr->command = command;
	hdr->in_words = in_len / 4;
	hdr->out_words = out_len / 4;
	memcpy(in + sizeof(*hdr), body, body_len);
	if (udata_in) {
		ret = ib_copy_from_udata(in + sizeof(*hdr) + body_len, udata, udata_in);
		if (ret)
			goto out;
	}

	ret = hyv_cmd_exec_exact(hdev, HYV_OP_UVERBS_WRITE, ctx, in, in_len, out, out_len);
	if (ret)
		goto out;
	memcpy(resp, out, resp_len);
	if (drv_out)
		memcpy(drv_out, out + resp_len, udata_out);
	else if (udata_out)
		ret = ib_copy_to_udata(udata, out + resp_len, udata_out);
out:
	kfree(out);
	kfree(in);
	return ret;
}

int hyv_uverbs_cmd(struct hyv_dev *hdev, u32 ctx, u32 command, const void *body, u32 body_len,
		   struct ib_udata *udata, void *resp, u32 resp_len)
{
	return hyv_uverbs_cmd_drv(hdev, ctx, command, body, body_len, udata, resp, resp_len, NULL);
}
