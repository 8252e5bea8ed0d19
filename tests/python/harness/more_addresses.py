"""More loopback addresses answering as "instances" than sshd can listen on.

moto gives each new instance the next private address of the subnet
(127.0.0.4, .5, ...) and never reuses one; sshd listens on at most 16
addresses. For tests that launch more instances, this forwards TCP
connections to `port` on further loopback addresses to the sshd at
`target`: threads of the test process, on loopback only, closed by `stop()`."""
from __future__ import annotations

import selectors
import socket
import threading


class MoreAddresses:
    """Forward `addresses`:`port` to `target`:`port`."""

    def __init__(self, addresses, port: int, target: str = "127.0.0.1"):
        self.port = port
        self.target = target
        self.selector = selectors.DefaultSelector()
        self.listeners = []
        for address in addresses:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((address, port))
            listener.listen(8)
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ)
            self.listeners.append(listener)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self) -> None:
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                try:
                    client, _ = key.fileobj.accept()
                except OSError:
                    continue
                client.setblocking(True)
                upstream = socket.create_connection((self.target, self.port), timeout=10)
                upstream.settimeout(None)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        for listener in self.listeners:
            self.selector.unregister(listener)
            listener.close()
        self.selector.close()


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction until it ends, then close both."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
