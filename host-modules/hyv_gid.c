// SPDX-License-Identifier: GPL-2.0-only
/*
 * The GIDs an instance sees and may use: its network identity (docs/network.md).
 *
 * An instance with an identity is bound to one host net device, a macvlan or
 * VLAN upper device of the RDMA device's netdev that carries the VM's MAC and
 * addresses. The host's RDMA core gives that device's addresses RoCE GIDs on
 * the host port; the instance sees exactly those, renumbered from 0 in host
 * table order, and every source GID index the guest names (address handles,
 * QP address vectors) is translated to the host index here or refused.
 *
 * An instance without an identity sees no GID, so it cannot send on a RoCE
 * port, unless it is marked unisolated: then it sees the host's first
 * HYV_GID_TABLE_LEN entries index for index, the host's own and every other
 * VM's addresses among them. hyvd sets one of the two before the hot-add.
 *
 * A guest driver may instead keep a GID table of its own, whose entries it
 * declares and the host checks against this view (hyv_gid_guest.c); source
 * GID indices are then that table's.
 */
#include <linux/netdevice.h>
#include <linux/nospec.h>
#include <net/addrconf.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <rdma/ib_cache.h>

#include "hyv_mdev.h"

void hyv_gid_init(struct hyv_instance *inst)
{
	mutex_init(&inst->gids.lock);
}

void hyv_gid_release(struct hyv_instance *inst)
{
	if (inst->gids.net)
		put_net(inst->gids.net);
	inst->gids.net = NULL;
	mutex_destroy(&inst->gids.lock);
}

static bool hyv_gid_is_own(const struct hyv_gid_view *view, const struct ib_gid_attr *attr)
{
	struct net_device *ndev;
	bool own;

	rcu_read_lock();
	ndev = rdma_read_gid_attr_ndev_rcu(attr);
	own = !IS_ERR(ndev) && ndev->ifindex == view->ifindex && net_eq(dev_net(ndev), view->net);
	rcu_read_unlock();
	return own;
}

/*
 * The instance's view of port's GID table: host[i] is the host index the
 * guest calls i. Returns how many there are, or a negative errno. Walks the
 * host table under parent->lock (the device stays) and view->lock (the
 * identity stays).
 */
int hyv_gid_view(struct hyv_instance *inst, u32 port, u32 host[HYV_GID_TABLE_LEN])
{
	struct hyv_parent *parent = inst->parent;
	struct hyv_gid_view *view = &inst->gids;
	const struct ib_gid_attr *attr;
	u32 len, i;
	int n = 0;

	mutex_lock(&view->lock);
	mutex_lock(&parent->lock);
	if (!parent->ibdev) {
		n = -ENODEV;
		goto out;
	}
	if (!rdma_is_port_valid(parent->ibdev, port)) {
		n = -EINVAL;
		goto out;
	}
	len = hyv_port_data(parent->ibdev, port)->immutable.gid_tbl_len;
	for (i = 0; i < len && n < HYV_GID_TABLE_LEN; i++) {
		bool own;

		if (!view->unisolated) {
			if (!view->net)
				break;
			attr = rdma_get_gid_attr(parent->ibdev, port, i);
			if (IS_ERR(attr))
				continue;
			own = hyv_gid_is_own(view, attr);
			rdma_put_gid_attr(attr);
			if (!own)
				continue;
		}
		host[n++] = i;
	}
out:
	mutex_unlock(&parent->lock);
	mutex_unlock(&view->lock);
	return n;
}

/* The host index the guest calls guest_index; -ENOENT past the view. */
static int hyv_gid_lookup(struct hyv_instance *inst, u32 port, u32 guest_index, u32 *host_index)
{
	u32 host[HYV_GID_TABLE_LEN];
	int n = hyv_gid_view(inst, port, host);

	if (n < 0)
		return n;
	if (guest_index >= n)
		return -ENOENT;
	*host_index = host[guest_index];
	return 0;
}

/*
 * The host GID index behind the guest's sgid_index, for an address the
 * guest is about to use. Anything outside the instance's GIDs is refused
 * and counted.
 */
int hyv_gid_to_host(struct hyv_instance *inst, u32 port, u32 guest_index, u32 *host_index)
{
	int ret = READ_ONCE(inst->gids.guest_table) ?
		  hyv_gid_guest_to_host(inst, port, guest_index, host_index) :
		  hyv_gid_lookup(inst, port, guest_index, host_index);

	if (ret) {
		atomic64_inc(&inst->counters.gid_refusals);
		dev_dbg(&inst->mdev->dev, "source GID index %u on port %u refused: not the instance's (%d)\n",
			guest_index, port, ret);
		return -EINVAL;
	}
	return 0;
}

/* The guest's index of a host GID the instance owns; -ENOENT when it owns none there. */
int hyv_gid_to_guest(struct hyv_instance *inst, u32 port, u32 host_index, u32 *guest_index)
{
	u32 host[HYV_GID_TABLE_LEN];
	int i, n = hyv_gid_view(inst, port, host);

	if (n < 0)
		return n;
	for (i = 0; i < n && host[i] != host_index; i++)
		;
	if (i == n)
		return -ENOENT;
	if (READ_ONCE(inst->gids.guest_table))
		return hyv_gid_host_to_guest(inst, port, host_index, guest_index);
	*guest_index = i;
	return 0;
}

/* The guest's GID table entry: the instance's own GIDs, an empty entry past them. */
int hyv_gid_query(struct hyv_instance *inst, u32 port, u32 guest_index, struct hyv_gid_entry *out)
{
	u32 host_index;
	int ret;

	memset(out, 0, sizeof(*out));
	if (guest_index >= HYV_GID_TABLE_LEN)
		return -EINVAL;
	ret = hyv_gid_lookup(inst, port, guest_index, &host_index);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	return hyv_parent_query_gid(inst->parent, port, host_index, out);
}

bool hyv_gid_unisolated(struct hyv_instance *inst)
{
	return READ_ONCE(inst->gids.unisolated);
}

/*
 * Calls fn on each GID of the instance's view of port, with its host index,
 * until it returns true. Returns 1 when it did, 0 when it never did, or the
 * view's negative errno.
 */
int hyv_gid_walk(struct hyv_instance *inst, u32 port, hyv_gid_visit_fn fn, void *arg)
{
	u32 host[HYV_GID_TABLE_LEN];
	struct hyv_gid_entry entry;
	int i, n = hyv_gid_view(inst, port, host);

	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (hyv_parent_query_gid(inst->parent, port, host[i], &entry))
			continue;
		if (fn(host[i], &entry, arg))
			return 1;
	}
	return 0;
}

/* hyv_gid_walk over every port: whether fn returned true for one GID. */
static bool hyv_gid_any(struct hyv_instance *inst, hyv_gid_visit_fn fn, void *arg)
{
	u32 port;

	for (port = 1; port <= inst->parent->identity.phys_port_cnt; port++) {
		if (hyv_gid_walk(inst, port, fn, arg) > 0)
			return true;
	}
	return false;
}

static bool hyv_gid_equal(u32 host_index, const struct hyv_gid_entry *gid, void *arg)
{
	return !memcmp(gid->raw, arg, sizeof(union ib_gid));
}

/* Whether raw (an address as a RoCE GID) is one of the instance's GIDs. */
bool hyv_gid_owns(struct hyv_instance *inst, const u8 raw[16])
{
	return hyv_gid_any(inst, hyv_gid_equal, (void *)raw);
}

struct hyv_gid_pick {
	bool ipv4;
	u8 *raw;
};

static bool hyv_gid_is_addr(u32 host_index, const struct hyv_gid_entry *gid, void *arg)
{
	struct hyv_gid_pick *pick = arg;
	struct in6_addr a;

	memcpy(&a, gid->raw, sizeof(a));
	if (ipv6_addr_any(&a) || pick->ipv4 != ipv6_addr_v4mapped(&a) ||
	    (!pick->ipv4 && ipv6_addr_type(&a) & IPV6_ADDR_LINKLOCAL))
		return false;
	memcpy(pick->raw, gid->raw, sizeof(a));
	return true;
}

/*
 * The instance's first address of a family, as a RoCE GID: an IPv4-mapped
 * one, or a global IPv6 one. -EADDRNOTAVAIL when it has none.
 */
int hyv_gid_first_addr(struct hyv_instance *inst, bool ipv4, u8 raw[16])
{
	struct hyv_gid_pick pick = { .ipv4 = ipv4, .raw = raw };

	return hyv_gid_any(inst, hyv_gid_is_addr, &pick) ? 0 : -EADDRNOTAVAIL;
}

/* sysfs: identity/netdev and identity/unisolated. */
static ssize_t netdev_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);
	ssize_t ret;

	mutex_lock(&inst->gids.lock);
	ret = sysfs_emit(buf, "%s\n", inst->gids.ifname);
	mutex_unlock(&inst->gids.lock);
	return ret;
}

/*
 * Binds the instance to the net device named in the writer's network
 * namespace; an empty write unbinds it. No reference on the device is kept:
 * deleting it (hyvd does, after the detach) just empties the guest's view.
 */
static ssize_t netdev_store(struct device *dev, struct device_attribute *attr, const char *buf,
			    size_t count)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);
	struct hyv_gid_view *view = &inst->gids;
	struct net *net = current->nsproxy->net_ns;
	char written[IFNAMSIZ + 1];	/* a name and echo's newline */
	struct net_device *ndev;
	struct net *old;
	int ifindex = 0;
	char *name;

	if (count >= sizeof(written))
		return -EINVAL;
	strscpy(written, buf, sizeof(written));
	name = strim(written);
	if (strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	if (name[0]) {
		ndev = dev_get_by_name(net, name);
		if (!ndev)
			return -ENODEV;
		ifindex = ndev->ifindex;
		dev_put(ndev);
	}
	mutex_lock(&view->lock);
	old = view->net;
	view->net = ifindex ? get_net(net) : NULL;
	view->ifindex = ifindex;
	strscpy(view->ifname, ifindex ? name : "", sizeof(view->ifname));
	mutex_unlock(&view->lock);
	if (old)
		put_net(old);
	return count;
}
static DEVICE_ATTR_RW(netdev);

static ssize_t unisolated_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", READ_ONCE(inst->gids.unisolated));
}

static ssize_t unisolated_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);
	bool unisolated;
	int ret;

	ret = kstrtobool(buf, &unisolated);
	if (ret)
		return ret;
	mutex_lock(&inst->gids.lock);
	inst->gids.unisolated = unisolated;
	mutex_unlock(&inst->gids.lock);
	return count;
}
static DEVICE_ATTR_RW(unisolated);

/*
 * The guest's table as host indices, one line per guest index: what the
 * guest may use. A table the guest keeps itself may have holes: "-".
 */
static ssize_t host_indices_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);
	u32 host[HYV_GID_TABLE_LEN];
	int i, n, last = -1;
	int len = 0;

	if (!READ_ONCE(inst->gids.guest_table)) {
		n = hyv_gid_view(inst, 1, host);
		for (i = 0; i < n; i++)
			len += sysfs_emit_at(buf, len, "%u\n", host[i]);
		return len;
	}
	for (i = 0; i < HYV_GID_TABLE_LEN; i++) {
		if (hyv_gid_guest_to_host(inst, HYV_SET_GID_PORT, i, &host[i]))
			host[i] = U32_MAX;
		else
			last = i;
	}
	for (i = 0; i <= last; i++)
		len += host[i] == U32_MAX ? sysfs_emit_at(buf, len, "-\n") :
					    sysfs_emit_at(buf, len, "%u\n", host[i]);
	return len;
}
static DEVICE_ATTR_RO(host_indices);

static struct attribute *hyv_gid_attrs[] = {
	&dev_attr_netdev.attr,
	&dev_attr_unisolated.attr,
	&dev_attr_host_indices.attr,
	NULL,
};

const struct attribute_group hyv_gid_group = {
	.name = "identity",
	.attrs = hyv_gid_attrs,
};
