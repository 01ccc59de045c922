/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Opens an mdev the way QEMU does (its iommu group, a type1v2 container,
 * VFIO_GROUP_GET_DEVICE_FD), for the userspace test programs that play QEMU.
 * Header-only: each program passes its own die() so errors carry its name.
 */
#ifndef HYV_TEST_VFIO_MDEV_H
#define HYV_TEST_VFIO_MDEV_H

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

/* Returns the device fd; *container_out gets the container fd (for DMA maps). */
static inline int vfio_open_mdev(const char *uuid, int *container_out, void (*die)(const char *what))
{
	char path[PATH_MAX], link[PATH_MAX];
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int container, group, device;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group", uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die(path);
	link[n] = '\0';
	snprintf(path, sizeof(path), "/dev/vfio/%s", basename(link));
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		die("/dev/vfio/vfio");
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		die("VFIO_GET_API_VERSION");
	group = open(path, O_RDWR);
	if (group < 0)
		die(path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) || !(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		die("VFIO_GROUP_GET_STATUS (group not viable)");
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		die("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU type1v2");
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, uuid);
	if (device < 0)
		die("VFIO_GROUP_GET_DEVICE_FD");
	if (container_out)
		*container_out = container;
	return device;
}

#endif /* HYV_TEST_VFIO_MDEV_H */
