// SPDX-License-Identifier: GPL-2.0-only
/*
 * A GID table the guest keeps itself (HYV_OP_SET_GID, docs/control-path.md,
 * "GIDs").
 *
 * A guest driver that registers its port as RoCE over a net device of its own
 * gets its GID table from the guest's ib_core, which numbers the entries
 * itself (default GIDs first) and types them RoCE v2, as libibverbs needs to
 * answer a UD sender (ibv_create_ah_from_wc). ib_core hands each entry to the
 * driver (add_gid, del_gid), which declares it here. From the first
 * declaration on, a source GID index the guest names is an index of that
 * table: it is mapped by value and type to the host GID, which must still be
 * one of the instance's own (hyv_gid.c), or the use is refused. A GID
 * outside the identity cannot be declared at all, so the guest's table never
 * shows one. The device's reset forgets the table.
 */
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/nospec.h>
#include <rdma/ib_cache.h>

#include "hyv_mdev.h"

struct hyv_gid_match {
	const u8 *raw;
	u32 type;
	u32 host_index;		/* out */
};

static bool hyv_gid_matches(u32 host_index, const struct hyv_gid_entry *gid, void *arg)
{
	struct hyv_gid_match *m = arg;

	if (le32_to_cpu(gid->gid_type) != m->type || memcmp(gid->raw, m->raw, sizeof(gid->raw)))
		return false;
	m->host_index = host_index;
	return true;
}

/* The host index of the instance's GID raw of type; -ENOENT when it has none. */
static int hyv_gid_find(struct hyv_instance *inst, u32 port, const u8 raw[16], u32 type,
			u32 *host_index)
{
	struct hyv_gid_match m = { .raw = raw, .type = type };
	int ret = hyv_gid_walk(inst, port, hyv_gid_matches, &m);

	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOENT;
	*host_index = m.host_index;
	return 0;
}

int hyv_gid_declare(struct hyv_instance *inst, const struct hyv_set_gid *req)
{
	struct hyv_gid_view *view = &inst->gids;
	u32 port = le32_to_cpu(req->port), index = le32_to_cpu(req->index);
	u32 type = le32_to_cpu(req->gid_type), flags = le32_to_cpu(req->flags);
	bool set = flags & HYV_SET_GID_VALID;
	struct hyv_guest_gid *entry;
	u32 host_index;
	int ret;

	if (port != HYV_SET_GID_PORT || index >= HYV_GID_TABLE_LEN ||
	    flags & ~HYV_SET_GID_VALID || type > IB_GID_TYPE_ROCE_UDP_ENCAP)
		return -EINVAL;
	/* The zero GID marks an empty host entry, not an address. */
	if (set && rdma_is_zero_gid((const union ib_gid *)req->raw))
		return -EINVAL;
	if (set) {
		ret = hyv_gid_find(inst, port, req->raw, type, &host_index);
		if (ret) {
			atomic64_inc(&inst->counters.gid_refusals);
			dev_dbg(&inst->mdev->dev, "guest GID %pI6 (type %u) at index %u refused: not the instance's (%d)\n",
				req->raw, type, index, ret);
			return ret == -ENOENT ? -EADDRNOTAVAIL : ret;
		}
	}
	mutex_lock(&view->lock);
	view->guest_table = true;
	entry = &view->guest[array_index_nospec(index, HYV_GID_TABLE_LEN)];
	entry->set = set;
	memcpy(entry->raw, req->raw, sizeof(entry->raw));
	entry->type = type;
	mutex_unlock(&view->lock);
	return 0;
}

void hyv_gid_forget_guest(struct hyv_instance *inst)
{
	struct hyv_gid_view *view = &inst->gids;

	mutex_lock(&view->lock);
	view->guest_table = false;
	memset(view->guest, 0, sizeof(view->guest));
	mutex_unlock(&view->lock);
}

/* The host GID behind the guest's guest_index; -ENOENT: an empty entry, or no longer the instance's. */
int hyv_gid_guest_to_host(struct hyv_instance *inst, u32 port, u32 guest_index, u32 *host_index)
{
	struct hyv_gid_view *view = &inst->gids;
	struct hyv_guest_gid entry;

	if (port != HYV_SET_GID_PORT || guest_index >= HYV_GID_TABLE_LEN)
		return -ENOENT;
	mutex_lock(&view->lock);
	entry = view->guest[array_index_nospec(guest_index, HYV_GID_TABLE_LEN)];
	mutex_unlock(&view->lock);
	if (!entry.set)
		return -ENOENT;
	return hyv_gid_find(inst, port, entry.raw, entry.type, host_index);
}

/*
 * The guest's index of host GID host_index, which hyv_gid_to_guest found in
 * the instance's view; -ENOENT when the guest has it nowhere.
 */
int hyv_gid_host_to_guest(struct hyv_instance *inst, u32 port, u32 host_index, u32 *guest_index)
{
	struct hyv_gid_view *view = &inst->gids;
	struct hyv_gid_entry gid;
	int i, ret;

	if (port != HYV_SET_GID_PORT)
		return -ENOENT;
	ret = hyv_parent_query_gid(inst->parent, port, host_index, &gid);
	if (ret)
		return ret;
	ret = -ENOENT;
	mutex_lock(&view->lock);
	for (i = 0; i < HYV_GID_TABLE_LEN; i++) {
		const struct hyv_guest_gid *e = &view->guest[i];

		if (e->set && e->type == le32_to_cpu(gid.gid_type) &&
		    !memcmp(e->raw, gid.raw, sizeof(e->raw))) {
			*guest_index = i;
			ret = 0;
			break;
		}
	}
	mutex_unlock(&view->lock);
	return ret;
}

/* The net device of the host port's first GID (the port's own), held; NULL without one. */
static struct net_device *hyv_gid_port_netdev(struct hyv_parent *parent)
{
	const struct ib_gid_attr *attr;
	struct net_device *ndev = NULL;

	mutex_lock(&parent->lock);
	if (!parent->ibdev)
		goto out;
	attr = rdma_get_gid_attr(parent->ibdev, HYV_SET_GID_PORT, 0);
	if (IS_ERR(attr))
		goto out;
	rcu_read_lock();
	ndev = rdma_read_gid_attr_ndev_rcu(attr);
	if (IS_ERR(ndev))
		ndev = NULL;
	else
		dev_hold(ndev);
	rcu_read_unlock();
	rdma_put_gid_attr(attr);
out:
	mutex_unlock(&parent->lock);
	return ndev;
}

/*
 * The identity's link: the net device the instance is bound to, or the
 * host port's own when it is unisolated. All zero without either.
 */
void hyv_gid_identity(struct hyv_instance *inst, struct hyv_identity *out)
{
	struct hyv_gid_view *view = &inst->gids;
	struct net_device *ndev = NULL;

	memset(out, 0, sizeof(*out));
	mutex_lock(&view->lock);
	if (view->net)
		ndev = dev_get_by_index(view->net, view->ifindex);
	else if (view->unisolated)
		ndev = hyv_gid_port_netdev(inst->parent);
	mutex_unlock(&view->lock);
	if (!ndev)
		return;
	if (ndev->addr_len == ETH_ALEN)
		ether_addr_copy(out->mac, ndev->dev_addr);
	out->mtu = cpu_to_le32(ndev->mtu);
	dev_put(ndev);
}
