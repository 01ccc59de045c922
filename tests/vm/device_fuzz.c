// SPDX-License-Identifier: GPL-2.0-only
/*
 * device_fuzz: opens a hyv_mdev instance the way QEMU does (VFIO group and
 * container, type1 IOMMU on an emulated group), then throws garbage at every
 * region, at odd offsets and sizes, at the BAR2 mapping and at the interrupt
 * ioctls. Out-of-range accesses must fail cleanly; afterwards the instance must
 * still answer config reads with its IDs and identity (struct hyv_device_config:
 * ABI, state, node GUID, driver id RXE, the host's uverbs ABI, port count, name).
 *
 * usage: device_fuzz MDEV_UUID NODE_GUID_HEX SEED UVERBS_ABI PORTS IBDEV
 *        (NODE_GUID_HEX in host order; the last three as the host reports them)
 * exit 0: survived and still answering; 1: a check failed; 2: setup failed.
 *
 * usage: device_fuzz hold MDEV_UUID [SECONDS]
 * plays QEMU holding the device while someone removes the mdev: opens it,
 * arms the request interrupt (VFIO_PCI_REQ_IRQ_INDEX), prints "held", waits
 * (up to 300 s) for the request, prints "request received (count N)", reads
 * the vendor/device IDs through the fd (the instance must still answer),
 * keeps holding for SECONDS (default 3) and then until a line or EOF arrives
 * on stdin (the caller's checks are done; </dev/null to skip), prints
 * "closing", closes the device and exits 0; 1 if a check failed or no
 * request came.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <rdma/ib_user_ioctl_verbs.h>

#include <hyv/hyv_abi.h>

#include "vfio_mdev.h"

#define REGION_SHIFT 40
#define REGION_OFFSET(index) ((uint64_t)(index) << REGION_SHIFT)
#define CONFIG_SPACE_SIZE 256
#define RANDOM_IOCTLS 20000
#define MAX_FUZZ_ACCESS 16
#define SMALL_REGION 0x10000
#define LARGE_REGION_STRIDE 509
#define REQUEST_TIMEOUT_MS 300000

/* What the host says about its device; device config must carry the same. */
struct expected_identity {
	uint64_t node_guid;
	uint32_t uverbs_abi_ver;
	uint32_t phys_port_cnt;
	const char *ibdev;
};

static int failures;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "device_fuzz: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static void die(const char *what)
{
	fprintf(stderr, "device_fuzz: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int open_device(const char *uuid)
{
	return vfio_open_mdev(uuid, NULL, die);
}

static uint64_t region_size(int device, uint32_t index, uint32_t *flags)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &info)) {
		fail("GET_REGION_INFO %u: %s", index, strerror(errno));
		return 0;
	}
	if (info.offset != REGION_OFFSET(index))
		fail("region %u at offset 0x%llx, expected 0x%llx", index,
		     (unsigned long long)info.offset, (unsigned long long)REGION_OFFSET(index));
	*flags = info.flags;
	return info.size;
}

static void fill_garbage(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rng();
}

/* Every offset (sampled in large regions), random sizes 1..MAX_FUZZ_ACCESS that stays inside the region. */
static void fuzz_region_inside(int device, uint32_t index, uint64_t size)
{
	/* The mmap-able window is large and not trapped in use: sample it. */
	uint64_t stride = size > SMALL_REGION ? LARGE_REGION_STRIDE : 1;
	uint8_t buf[MAX_FUZZ_ACCESS];

	for (uint64_t off = 0; off < size; off += stride) {
		size_t len = 1 + rng() % MAX_FUZZ_ACCESS;
		off_t pos = REGION_OFFSET(index) + off;

		if (len > size - off)
			len = size - off;
		fill_garbage(buf, len);
		if (pwrite(device, buf, len, pos) != (ssize_t)len)
			fail("pwrite region %u +0x%llx len %zu: %s", index, (unsigned long long)off, len,
			     strerror(errno));
		if (pread(device, buf, len, pos) != (ssize_t)len)
			fail("pread region %u +0x%llx len %zu: %s", index, (unsigned long long)off, len,
			     strerror(errno));
	}
}

static void expect_rejected(int device, off_t pos, size_t len, const char *what)
{
	static uint8_t buf[1 << 20];

	fill_garbage(buf, len < 64 ? len : 64);
	if (pwrite(device, buf, len, pos) >= 0)
		fail("pwrite %s accepted", what);
	if (pread(device, buf, len, pos) >= 0)
		fail("pread %s accepted", what);
}

static void fuzz_region_edges(int device, uint32_t index, uint64_t size)
{
	off_t base = REGION_OFFSET(index);

	if (!size) {
		expect_rejected(device, base, 4, "into an empty region");
		return;
	}
	expect_rejected(device, base + size - 1, 4, "across the region end");
	expect_rejected(device, base + size, 1, "just past the region end");
	expect_rejected(device, base + size + 4096 * 7 + 3, 3, "far past the region end");
	expect_rejected(device, base + 1, 1 << 20, "of 1 MiB");
}

static void fuzz_window(int device, uint64_t size)
{
	uint8_t *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, device,
			    REGION_OFFSET(VFIO_PCI_BAR2_REGION_INDEX));

	if (map == MAP_FAILED) {
		fail("mmap BAR2: %s", strerror(errno));
		return;
	}
	for (uint64_t off = 0; off < size; off += 4096 + 13) {
		uint8_t value = (uint8_t)rng();

		map[off] = value;
		if (map[off] != value)
			fail("BAR2 window does not keep its contents at 0x%llx", (unsigned long long)off);
	}
	/* A read straight into the mapping must not deadlock against its fault handler. */
	if (pread(device, map + 4096 * 3, CONFIG_SPACE_SIZE, REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)) !=
	    CONFIG_SPACE_SIZE)
		fail("pread config into the BAR2 mapping: %s", strerror(errno));
	munmap(map, size);

	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		   REGION_OFFSET(VFIO_PCI_BAR0_REGION_INDEX));
	if (map != MAP_FAILED) {
		fail("BAR0 is trapped but mmap succeeded");
		munmap(map, 4096);
	}
	map = mmap(NULL, size * 2, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		   REGION_OFFSET(VFIO_PCI_BAR2_REGION_INDEX));
	if (map != MAP_FAILED) {
		fail("mmap beyond BAR2 succeeded");
		munmap(map, size * 2);
	}
}

static int set_irqs(int device, uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
		    const void *data, size_t data_len)
{
	uint8_t buf[sizeof(struct vfio_irq_set) + 64];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;

	if (data_len > 64)
		data_len = 64;
	set->argsz = sizeof(*set) + data_len;
	set->flags = flags;
	set->index = index;
	set->start = start;
	set->count = count;
	memcpy(set->data, data, data_len);
	return ioctl(device, VFIO_DEVICE_SET_IRQS, set);
}

static uint64_t eventfd_count(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t value = 0;

	if (poll(&pfd, 1, 100) == 1 && read(fd, &value, sizeof(value)) != sizeof(value))
		value = 0;
	return value;
}

static void fuzz_irqs(int device)
{
	int32_t fds[HYV_MSIX_VECTORS];
	int32_t bogus[16];
	int intx = eventfd(0, EFD_NONBLOCK);
	int req = eventfd(0, EFD_NONBLOCK);

	for (int i = 0; i < HYV_MSIX_VECTORS; i++)
		fds[i] = eventfd(0, EFD_NONBLOCK);

	for (int i = 0; i < RANDOM_IOCTLS; i++) {
		uint8_t info[64];

		fill_garbage((uint8_t *)bogus, sizeof(bogus));
		bogus[0] = (int32_t)(rng() % 3) - 1; /* -1, 0 (stdin!), 1 */
		set_irqs(device, (uint32_t)rng() & (rng() % 2 ? 0x3f : ~0u), rng() % 8, rng() % 6,
			 rng() % 7, bogus, rng() % 65);
		fill_garbage(info, sizeof(info));
		ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, info);
		fill_garbage(info, sizeof(info));
		ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info);
		ioctl(device, VFIO_DEVICE_GET_INFO, info);
		ioctl(device, (unsigned long)(VFIO_BASE + 100 + rng() % 40), info);
	}
	/* Start from a clean slate, then check that real eventfds do fire. */
	set_irqs(device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL, 0);
	set_irqs(device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL, 0);
	if (set_irqs(device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		     VFIO_PCI_MSIX_IRQ_INDEX, 0, HYV_MSIX_VECTORS, fds, sizeof(fds)))
		fail("SET_IRQS MSI-X eventfds: %s", strerror(errno));
	if (set_irqs(device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		     VFIO_PCI_MSIX_IRQ_INDEX, HYV_MSIX_VECTORS - 1, 1, NULL, 0))
		fail("SET_IRQS MSI-X loopback trigger: %s", strerror(errno));
	if (eventfd_count(fds[HYV_MSIX_VECTORS - 1]) != 1)
		fail("MSI-X vector %d did not fire on a loopback trigger", HYV_MSIX_VECTORS - 1);
	if (set_irqs(device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		     VFIO_PCI_MSIX_IRQ_INDEX, 0, HYV_MSIX_VECTORS + 1, fds, sizeof(fds)) == 0)
		fail("SET_IRQS beyond the MSI-X vector count accepted");
	set_irqs(device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL, 0);
	if (set_irqs(device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		     VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &intx, sizeof(intx)))
		fail("SET_IRQS INTx eventfd: %s", strerror(errno));
	if (set_irqs(device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		     VFIO_PCI_REQ_IRQ_INDEX, 0, 1, &req, sizeof(req)))
		fail("SET_IRQS request eventfd: %s", strerror(errno));
	set_irqs(device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0);
	if (eventfd_count(intx) != 1)
		fail("INTx did not fire on a loopback trigger");
	for (int i = 0; i < HYV_MSIX_VECTORS; i++)
		close(fds[i]);
	close(intx);
	close(req);
}

static uint32_t le(const uint8_t *p, size_t len)
{
	uint32_t value = 0;

	for (size_t i = 0; i < len; i++)
		value |= (uint32_t)p[i] << (8 * i);
	return value;
}

static void check_still_answering(int device, const struct expected_identity *want)
{
	uint8_t config[CONFIG_SPACE_SIZE];
	struct hyv_device_config dev;
	uint64_t guid;

	if (ioctl(device, VFIO_DEVICE_RESET))
		fail("VFIO_DEVICE_RESET: %s", strerror(errno));
	if (pread(device, config, sizeof(config), REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)) !=
	    sizeof(config)) {
		fail("config read after fuzzing: %s", strerror(errno));
		return;
	}
	if (le(config, 2) != HYV_PCI_VENDOR_ID || le(config + 2, 2) != HYV_PCI_DEVICE_ID)
		fail("config IDs after fuzzing %04x:%04x, expected %04x:%04x", le(config, 2),
		     le(config + 2, 2), HYV_PCI_VENDOR_ID, HYV_PCI_DEVICE_ID);
	if (le(config + 0x2c, 2) != HYV_PCI_SUBSYS_VENDOR_ID || le(config + 0x2e, 2) != HYV_PCI_SUBSYS_ID)
		fail("subsystem IDs changed by fuzzing");
	if (pread(device, &dev, sizeof(dev),
		  REGION_OFFSET(VFIO_PCI_BAR0_REGION_INDEX) + HYV_BAR0_DEVICE_OFFSET) != sizeof(dev)) {
		fail("device config read after fuzzing: %s", strerror(errno));
		return;
	}
	guid = le64toh(dev.node_guid);
	if (le32toh(dev.abi_version) != HYV_ABI_VERSION || guid != want->node_guid ||
	    le32toh(dev.state) != HYV_DEVICE_STATE_LIVE)
		fail("device config after fuzzing: abi %u guid %016" PRIx64 " state %u, expected abi %u guid %016" PRIx64 " live",
		     le32toh(dev.abi_version), guid, le32toh(dev.state), HYV_ABI_VERSION, want->node_guid);
	if (le32toh(dev.driver_id) != RDMA_DRIVER_RXE)
		fail("device config driver_id %u, expected RDMA_DRIVER_RXE (%u)", le32toh(dev.driver_id),
		     (unsigned int)RDMA_DRIVER_RXE);
	if (le32toh(dev.uverbs_abi_ver) != want->uverbs_abi_ver)
		fail("device config uverbs_abi_ver %u, the host's uverbs abi_version is %u",
		     le32toh(dev.uverbs_abi_ver), want->uverbs_abi_ver);
	if (le32toh(dev.phys_port_cnt) != want->phys_port_cnt)
		fail("device config phys_port_cnt %u, ibv_devinfo says %u", le32toh(dev.phys_port_cnt),
		     want->phys_port_cnt);
	if (le32toh(dev.reserved) != 0)
		fail("device config reserved field %u, expected 0", le32toh(dev.reserved));
	if (!memchr(dev.host_ibdev, '\0', sizeof(dev.host_ibdev)))
		fail("device config host_ibdev is not NUL-terminated");
	else if (strcmp((const char *)dev.host_ibdev, want->ibdev))
		fail("device config host_ibdev \"%s\", expected \"%s\"", (const char *)dev.host_ibdev,
		     want->ibdev);
}

/*
 * device_fuzz hold: QEMU's side of removing an mdev in use. VFIO blocks the
 * remove until the device is closed and meanwhile signals the request irq.
 */
static int hold(const char *uuid, unsigned int seconds)
{
	struct pollfd pfd = { .events = POLLIN };
	uint8_t ids[4];
	char line[64];
	uint64_t count = 0;
	int32_t req;
	int device;

	device = open_device(uuid);
	req = eventfd(0, EFD_CLOEXEC);
	if (req < 0)
		die("eventfd");
	if (set_irqs(device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		     VFIO_PCI_REQ_IRQ_INDEX, 0, 1, &req, sizeof(req)))
		die("SET_IRQS request eventfd");
	printf("held\n");
	fflush(stdout);

	pfd.fd = req;
	if (poll(&pfd, 1, REQUEST_TIMEOUT_MS) != 1) {
		fail("no request interrupt within %d s", REQUEST_TIMEOUT_MS / 1000);
		close(device);
		return 1;
	}
	if (read(req, &count, sizeof(count)) != sizeof(count))
		die("read request eventfd");
	printf("request received (count %" PRIu64 ")\n", count);
	fflush(stdout);

	/* Removal is pending, but the holder still owns a working device. */
	if (pread(device, ids, sizeof(ids), REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)) != sizeof(ids))
		fail("config read while the removal waits: %s", strerror(errno));
	else if (le(ids, 2) != HYV_PCI_VENDOR_ID || le(ids + 2, 2) != HYV_PCI_DEVICE_ID)
		fail("IDs while the removal waits %04x:%04x, expected %04x:%04x", le(ids, 2),
		     le(ids + 2, 2), HYV_PCI_VENDOR_ID, HYV_PCI_DEVICE_ID);
	else
		printf("still answering: %04x:%04x\n", le(ids, 2), le(ids + 2, 2));
	fflush(stdout);

	sleep(seconds);
	if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
		die("stdin");
	printf("closing\n");
	fflush(stdout);
	close(device);
	close(req);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct expected_identity want;
	int device;

	if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "hold"))
		return hold(argv[2], argc > 3 ? (unsigned int)strtoul(argv[3], NULL, 0) : 3);
	if (argc != 7) {
		fprintf(stderr, "usage: %s MDEV_UUID NODE_GUID_HEX SEED UVERBS_ABI PORTS IBDEV\n"
				"       %s hold MDEV_UUID [SECONDS]\n", argv[0], argv[0]);
		return 2;
	}
	want.node_guid = strtoull(argv[2], NULL, 16);
	rng_state ^= strtoull(argv[3], NULL, 0);
	want.uverbs_abi_ver = (uint32_t)strtoul(argv[4], NULL, 0);
	want.phys_port_cnt = (uint32_t)strtoul(argv[5], NULL, 0);
	want.ibdev = argv[6];

	device = open_device(argv[1]);
	if (ioctl(device, VFIO_DEVICE_GET_INFO, &info))
		die("VFIO_DEVICE_GET_INFO");
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions < VFIO_PCI_NUM_REGIONS)
		fail("device info flags 0x%x regions %u", info.flags, info.num_regions);
	check_still_answering(device, &want);

	for (uint32_t index = 0; index < info.num_regions; index++) {
		uint32_t flags = 0;
		uint64_t size = region_size(device, index, &flags);

		printf("region %u: size 0x%llx flags 0x%x\n", index, (unsigned long long)size, flags);
		if (index == VFIO_PCI_BAR2_REGION_INDEX) {
			if (!(flags & VFIO_REGION_INFO_FLAG_MMAP))
				fail("BAR2 is not mmap-able");
			fuzz_window(device, size);
		}
		fuzz_region_inside(device, index, size);
		fuzz_region_edges(device, index, size);
	}
	expect_rejected(device, REGION_OFFSET(info.num_regions), 4, "into a region that does not exist");
	expect_rejected(device, REGION_OFFSET(0xffffff), 4, "at a huge region index");
	fuzz_irqs(device);
	check_still_answering(device, &want);

	close(device);
	printf("device_fuzz: %s (%d failure(s))\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
