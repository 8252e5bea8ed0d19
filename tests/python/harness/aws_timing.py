"""Real AWS's timing in front of moto, which changes every state at once.

A small HTTP forwarder between the kernel and moto_server (EC2's Query API:
form-encoded POSTs, XML answers) that, for `seconds` after each change:
- shows a launched or started instance as `pending`, a stopped one as
  `stopping`, a terminated one as `shutting-down` (in DescribeInstances,
  whose instance-state-name filter it applies itself to the states it shows);
- answers StartInstances on a stopping instance and StopInstances on a
  pending one with `IncorrectInstanceState`, as EC2 does;
- keeps the volumes of a terminated instance `in-use` while it shuts down
  and a while after (`volume_seconds`, three times `seconds` by default):
  AttachVolume and DeleteVolume answer `VolumeInUse`, DescribeVolumes says
  `in-use`;
- answers the first DescribeInstances naming a just-launched instance with
  `InvalidInstanceID.NotFound` (EC2's eventual consistency).
It counts every action it is asked (also those it answers itself), which is
what a client pays for. It is a thread of the test process, on a high port of
127.0.0.1, and forgets everything when it stops."""
from __future__ import annotations

import collections
import http.server
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import requests

from .sshd import free_port

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}


def namespace(root: ET.Element) -> str:
    """The answer's XML namespace (moto writes EC2's without its final slash)."""
    return root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""


def parse(content: bytes):
    """The answer's root, and a function naming a tag in its namespace."""
    root = ET.fromstring(content)
    ns = namespace(root)
    ET.register_namespace("", ns)
    return root, (lambda tag: f"{{{ns}}}{tag}" if ns else tag)


class AwsTiming:
    """The forwarder; `env()` points a kernel at it instead of at moto."""

    def __init__(self, moto, seconds: float = 3.0, volume_seconds: float | None = None):
        self.moto = moto
        self.seconds = seconds
        self.volume_seconds = 3 * seconds if volume_seconds is None else volume_seconds
        self.lock = threading.Lock()
        self.shown: dict[str, tuple[str, float]] = {}  # instance id -> (state shown, until)
        self.busy_volumes: dict[str, float] = {}  # volume id -> in use until
        self.unknown_once: set[str] = set()
        self.actions: collections.Counter = collections.Counter()
        self.answered: collections.Counter = collections.Counter()  # errors it made up, by code
        self.port = free_port()
        timing = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, answer = timing.handle(body, dict(self.headers))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return self.moto.env() | {"AWS_ENDPOINT_URL": self.endpoint}

    def take_actions(self) -> collections.Counter:
        """The actions asked since the last call (or the start), counted."""
        with self.lock:
            taken, self.actions = self.actions, collections.Counter()
        return taken

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    # --- the rules -----------------------------------------------------------

    def showing(self, instance_id: str) -> str | None:
        shown = self.shown.get(instance_id)
        if shown and time.monotonic() < shown[1]:
            return shown[0]
        return None

    def show(self, ids, state: str) -> None:
        until = time.monotonic() + self.seconds
        for instance_id in ids:
            self.shown[instance_id] = (state, until)

    def handle(self, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
        form = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        params = dict(form)
        action = params.get("Action", "?")
        ids = [v for k, v in form if k.startswith("InstanceId.")]
        with self.lock:
            self.actions[action] += 1
            now = time.monotonic()
            if action == "DescribeInstances":
                for instance_id in ids:
                    if instance_id in self.unknown_once:
                        self.unknown_once.discard(instance_id)
                        return self.error("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
            if action == "StartInstances" and any(self.showing(i) == "stopping" for i in ids):
                return self.error("IncorrectInstanceState", "The instance is not in a state from which it can be started.")
            if action == "StopInstances" and any(self.showing(i) == "pending" for i in ids):
                return self.error("IncorrectInstanceState", "The instance is not in a state from which it can be stopped.")
            if action in ("AttachVolume", "DeleteVolume"):
                volume = params.get("VolumeId", "")
                if self.busy_volumes.get(volume, 0) > now:
                    return self.error("VolumeInUse", f"{volume} is already attached to an instance")
            if action == "TerminateInstances":
                attached = self.moto.ec2.describe_volumes(
                    Filters=[{"Name": "attachment.instance-id", "Values": ids}])["Volumes"] if ids else []
                for volume in attached:
                    self.busy_volumes[volume["VolumeId"]] = now + self.volume_seconds
        state_filter = None
        if action == "DescribeInstances":
            form, state_filter = without_state_filter(form)
        forward_headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        answer = requests.post(self.moto.endpoint, data=urllib.parse.urlencode(form).encode(),
                               headers=forward_headers, timeout=60)
        content = answer.content
        with self.lock:
            if answer.status_code == 200:
                if action == "RunInstances":
                    root, q = parse(content)
                    launched = [e.text for e in root.iter(q("instanceId"))]
                    self.show(launched, "pending")
                    self.unknown_once.update(launched)
                elif action == "StartInstances":
                    self.show(ids, "pending")
                elif action == "StopInstances":
                    self.show(ids, "stopping")
                elif action == "TerminateInstances":
                    self.show(ids, "shutting-down")
                elif action == "DescribeInstances":
                    content = self.rewrite_instances(content, state_filter)
                elif action == "DescribeVolumes":
                    content = self.rewrite_volumes(content)
        headers_out = {"Content-Type": answer.headers.get("Content-Type", "text/xml")}
        return answer.status_code, headers_out, content

    def error(self, code: str, message: str) -> tuple[int, dict, bytes]:
        self.answered[code] += 1
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
               f"<Message>{message}</Message></Error></Errors><RequestID>timing-{code}</RequestID></Response>")
        return 400, {"Content-Type": "text/xml"}, xml.encode()

    def rewrite_instances(self, content: bytes, state_filter: list[str] | None) -> bytes:
        root, q = parse(content)
        for reservations in root.iter(q("reservationSet")):
            for reservation in list(reservations):
                for instances in reservation.iter(q("instancesSet")):
                    for instance in list(instances):
                        state = instance.find(q("instanceState"))
                        shown = self.showing(instance.findtext(q("instanceId")))
                        if shown and state is not None:
                            state.find(q("code")).text = str(STATE_CODES[shown])
                            state.find(q("name")).text = shown
                        name = state.findtext(q("name")) if state is not None else None
                        if state_filter is not None and name not in state_filter:
                            instances.remove(instance)
                    if len(instances) == 0:
                        reservations.remove(reservation)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def rewrite_volumes(self, content: bytes) -> bytes:
        root, q = parse(content)
        now = time.monotonic()
        for volumes in root.iter(q("volumeSet")):
            for volume in volumes:
                status = volume.find(q("status"))
                if status is not None and self.busy_volumes.get(volume.findtext(q("volumeId")), 0) > now:
                    status.text = "in-use"
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def without_state_filter(form: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str] | None]:
    """The form without its instance-state-name filter (renumbered: moto reads
    Filter.1, Filter.2, ... up to the first gap), and that filter's values."""
    filters: dict[str, dict] = collections.defaultdict(lambda: {"values": []})
    rest = []
    for key, value in form:
        parts = key.split(".")
        if parts[0] == "Filter" and len(parts) >= 3:
            if parts[2] == "Name":
                filters[parts[1]]["name"] = value
            else:
                filters[parts[1]]["values"].append(value)
        else:
            rest.append((key, value))
    states = None
    kept = []
    for number in sorted(filters, key=int):
        entry = filters[number]
        if entry.get("name") == "instance-state-name":
            states = entry["values"]
        else:
            kept.append(entry)
    for index, entry in enumerate(kept, start=1):
        rest.append((f"Filter.{index}.Name", entry["name"]))
        rest.extend((f"Filter.{index}.Value.{n}", v) for n, v in enumerate(entry["values"], start=1))
    return rest, states
