"""A loopback TCP proxy that injects network faults between a client and PostgreSQL (T6).

``FaultProxy(target_port)`` listens on 127.0.0.1 (an ephemeral port) and pumps
bytes both ways. Faults, applied to every open connection:

- ``drop()``: close both sides (FIN), as a middlebox timing out does;
- ``reset()``: close the client side with SO_LINGER 0 (RST), the server side too;
- ``delay(s)``: hold every chunk ``s`` seconds before forwarding;
- ``hold()`` / ``release()``: stop forwarding without closing (a blackhole that
  later heals: TCP would retransmit, so nothing is lost, only late).

Only loopback addresses are used; the proxy stops with ``close()``.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.delay_s = 0.0
        self.held = threading.Event()
        self.held.set()  # set = flowing
        self.closed = False
        self.faults = {"drop": 0, "reset": 0, "delay": 0, "hold": 0}
        threading.Thread(target=self._accept, daemon=True, name="fault-proxy").start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.held.wait()
                if self.delay_s:
                    time.sleep(self.delay_s)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                _quietly(s.shutdown, socket.SHUT_RDWR)

    def _take_all(self) -> list[tuple[socket.socket, socket.socket]]:
        with self.lock:
            pairs, self.pairs = self.pairs, []
        return pairs

    def drop(self) -> None:
        self.faults["drop"] += 1
        for c, u in self._take_all():
            for s in (c, u):
                _quietly(s.shutdown, socket.SHUT_RDWR)  # FIN; wakes the pump blocked in recv
                _quietly(s.close)

    def reset(self) -> None:
        self.faults["reset"] += 1
        for c, u in self._take_all():
            for s in (c, u):
                _quietly(s.setsockopt, socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
                # SHUT_RD wakes the pump thread blocked in recv without sending a FIN, so
                # the last close happens now and, with linger 0, sends an RST. (A close()
                # alone would leave the socket alive while a thread sits in recv on it.)
                _quietly(s.shutdown, socket.SHUT_RD)
                _quietly(s.close)

    def delay(self, seconds: float) -> None:
        self.faults["delay"] += 1
        self.delay_s = seconds

    def hold(self) -> None:
        self.faults["hold"] += 1
        self.held.clear()

    def release(self) -> None:
        self.held.set()
        self.delay_s = 0.0

    def close(self) -> None:
        self.closed = True
        self.release()
        try:
            self.lsock.close()
        except OSError:
            pass
        self.drop()


def _quietly(fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except OSError:
        pass
