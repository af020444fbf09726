"""A TCP proxy on 127.0.0.1 in front of a database that can fail the way networks do:
`blackhole()` keeps every connection open and accepts new ones but forwards nothing (no
error ever arrives), `refuse()` drops every connection and refuses new ones, `heal()`
forwards again. Threads, not the test's event loop: a bot that blocks its loop must not
also stop the proxy."""

from __future__ import annotations

import contextlib
import random
import select
import socket
import threading


class FaultyProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        self._listen()

    def blackhole(self) -> None:
        self._forwarding.clear()

    def refuse(self) -> None:
        self._forwarding.clear()
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown first: a plain close leaves the socket listening (and its port taken)
            # while the accepting thread is still inside accept(), on Linux.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._drop_connections()

    def heal(self) -> None:
        if self._listener is None:
            self._listen()
        self._forwarding.set()

    def stop(self) -> None:
        self._stopped.set()
        self.refuse()
        self._forwarding.set()

    # -- plumbing -----------------------------------------------------------------------------

    def _listen(self) -> None:
        # The port is chosen below the kernel's ephemeral range (32768 and up here): refusing
        # closes it, and healing binds it again; an ephemeral port could meanwhile become the
        # local end of somebody's outgoing connection ("Address already in use").
        candidates = [self.port] if self.port else random.sample(range(20_000, 32_000), 50)
        for port in candidates:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind(("127.0.0.1", port))
                break
            except OSError:
                listener.close()
        else:
            raise OSError(f"no free port for the proxy among {candidates}")
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refusing
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # A new connection in a blackhole: accepted, then nothing.
        self._forwarding.wait()
        if self._stopped.is_set():
            client.close()
            return
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with self._lock:
            self._connections += [client, upstream]
        pumps = [
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True),
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True),
        ]
        for pump in pumps:
            pump.start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                if not self._forwarding.is_set():
                    # Blackholed: nothing is read, so nothing arrives on the other side.
                    self._forwarding.wait(0.1)
                    continue
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                if not self._forwarding.is_set():
                    continue
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except (OSError, ValueError):
            pass  # closed (refusing), or the other side went
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def _drop_connections(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()
