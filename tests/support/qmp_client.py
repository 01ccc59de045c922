"""Minimal QMP client for the Python test scripts (tests/vm/daemon_consistency.py,
tests/bench/hotplug_bench.py): one socket, replies matched to requests, events kept so that a
DEVICE_DELETED sent before we wait for it is not lost. Their callers put this folder on PYTHONPATH."""

import json
import socket
import time


class QmpError(RuntimeError):
    pass


class Qmp:
    def __init__(self, path, timeout=60.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buffer = b""
        self.events = []
        self.next_id = 0
        greeting = self._read_message()
        if "QMP" not in greeting:
            raise QmpError(f"{path}: expected the QMP greeting, got {greeting}")
        self.execute("qmp_capabilities")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _read_message(self, deadline=None):
        while b"\n" not in self.buffer:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError(f"{self.path}: QEMU closed the QMP connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments=None):
        self.next_id += 1
        request = {"execute": command, "id": self.next_id}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            message = self._read_message()
            if "event" in message:
                self.events.append(message)
                continue
            if message.get("id") != self.next_id:
                continue
            if "error" in message:
                raise QmpError(f"{self.path}: {command} failed: {message['error'].get('desc', message['error'])}")
            return message.get("return")

    def wait_device_deleted(self, qdev_id, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("event") == "DEVICE_DELETED" and event.get("data", {}).get("device") == qdev_id:
                    del self.events[i]
                    return
            try:
                message = self._read_message(deadline)
            except TimeoutError:
                raise QmpError(f"{self.path}: no DEVICE_DELETED for {qdev_id} within {timeout} s "
                               "(is the nested guest booted? it must acknowledge PCIe unplug)") from None
            if "event" in message:
                self.events.append(message)
