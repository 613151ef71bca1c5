"""The main job: a tour of fedplane on this machine, on the embedded default.

Starts the platform (SuperLink, ASGI server, Celery workers) and prints the live
dashboard's address; three `fedplane-client` processes each holding a non-IID part of
scikit-learn's digits join one FedAvg execution started through the REST API; a line per
round comes from the event stream, then the final accuracy on a held-out test set beside that
of the same model trained centrally on the same data and budget (what federation costs). The
aggregated model is then promoted to the model registry, replicated to a second region
with a verified digest and served by predict; a demo shell with one remote is registered.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import httpx
import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from fedplane.api.scopes import ALL_SCOPES, Scope
from fedplane.api.services import api_key_issue
from fedplane.ops.platform import PlatformProcesses
from flcore.demo.central import train_centrally
from flcore.demo.data import load_test_set, write_digits_partitions
from flcore.runtime._process import die_with_parent

from ... import tour

TERMINAL = {"completed", "failed", "stopped"}


class Command(BaseCommand):
    help = ("Tour fedplane: a federated training of digits with 3 clients (or N simulated ones), then registry, "
            "regions, shell.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--rounds", type=int, default=10)
        parser.add_argument("--clients", type=int, default=3)
        parser.add_argument("--algorithm", default="fedavg")
        parser.add_argument("--alpha", type=float, default=1.0,
                            help="Dirichlet concentration of each client's label shares (smaller: more skewed)")
        parser.add_argument("--local-epochs", type=int, help="epochs each client trains per round (default 10; "
                                                                  "5 with --simulate)")
        parser.add_argument("--simulate", type=int, metavar="N", default=0,
                            help="train N virtual clients on Flower's Simulation Engine (a local Ray) instead of "
                                 "real client processes")
        parser.add_argument("--keep-running", action="store_true", help="leave the platform up afterwards")

    def handle(self, *args, **opts):
        call_command("migrate", verbosity=0, interactive=False)
        key, password = self._credentials()
        platform = PlatformProcesses(port=opts["port"])
        clients: list[subprocess.Popen] = []
        self.stdout.write("starting the platform (SuperLink, server, workers)...")
        platform.start(timeout=120)
        try:
            self.stdout.write(self.style.SUCCESS(
                f"live dashboard: {platform.url}/dashboard/  (log in as demo / {password})"))
            api = httpx.Client(base_url=f"{platform.url}/api/v1", headers={"X-API-Key": key}, timeout=30)
            if opts["simulate"]:
                execution, paths, test_path = self._start_simulation(api, opts)
            else:
                paths, test_path = write_digits_partitions(settings.VAR_DIR / "demo", opts["clients"],
                                                           alpha=opts["alpha"])
                clients = [self._start_client(platform.url, self._client_key(i), path, i)
                           for i, path in enumerate(paths, 1)]
                client_ids = self._wait_for_clients(api, len(paths), clients)
                execution = self._start_execution(api, opts, client_ids, paths)
            final = self._follow(platform.url, key, api, execution["id"])
            model = self._report(api, platform.url, final, paths, test_path)
            self._tour(api, final, model, test_path)
            if opts["keep_running"]:
                self.stdout.write("platform still running; Ctrl-C to stop")
                while True:
                    time.sleep(1)
        finally:
            for proc in clients:
                proc.terminate()
            for proc in clients:
                proc.wait(timeout=30)
            platform.stop()

    def _credentials(self) -> tuple[str, str]:
        """An API key for the tour and a fresh password for the dashboard, for user `demo`."""
        import secrets

        user, _ = get_user_model().objects.get_or_create(
            username="demo", defaults={"is_staff": True, "is_superuser": True})
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.save(update_fields=["password"])
        return self._issue_key("demo", sorted(ALL_SCOPES)), password

    def _client_key(self, index: int) -> str:
        """Each client machine its own key with a client's scopes only; rate limits count per key."""
        return self._issue_key(f"demo client {index}", [Scope.FL_CLIENTS_MANAGE, Scope.FL_METRICS_VIEW])

    @staticmethod
    def _issue_key(name: str, scopes: list[str]) -> str:
        user = get_user_model().objects.get(username="demo")
        _, plaintext = api_key_issue(user=user, name=f"{name} {time.strftime('%H:%M:%S')}", scopes=scopes)
        return plaintext

    def _start_client(self, url: str, key: str, path, index: int) -> subprocess.Popen:
        log = open(settings.VAR_DIR / "logs" / f"demo-client-{index}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "flcore.client.cli", "join", "--api", url, "--api-key", key,
                                 "--data", str(path), "--name", f"demo-client-{index}", "--heartbeat", "2",
                                 "--log-dir", str(settings.VAR_DIR / "logs")],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent)

    def _wait_for_clients(self, api: httpx.Client, count: int, procs, timeout: float = 120) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise CommandError(f"a client exited; see {settings.VAR_DIR / 'logs'}/demo-client-*.log")
            response = api.get("/fl/clients", params={"status": "active", "search": "demo-client", "limit": 100})
            if response.status_code != 200:
                raise CommandError(f"could not list the clients: {response.status_code} {response.text}")
            active = [c for c in response.json()["data"] if c["nodeId"] is not None]
            names = {c["name"]: c["id"] for c in sorted(active, key=lambda c: c["lastSeen"])}
            if len(names) >= count:
                self.stdout.write(f"{count} clients connected as Flower SuperNodes")
                return list(names.values())[-count:]
            time.sleep(0.5)
        raise CommandError("clients did not connect in time")

    def _start_execution(self, api: httpx.Client, opts, client_ids: list[str], paths) -> dict:
        # Tuned so that the federated model comes within 3% of the same model trained centrally on the
        # same data and budget (README, "The two commands"): on label shares split Dirichlet(1.0), 10 local
        # epochs at learning rate 0.2 (0.928 against 0.977 with 5 epochs at 0.1 on Dirichlet(0.5)).
        epochs = opts["local_epochs"] or 10
        body = {"modelType": "classification", "algorithm": opts["algorithm"], "clients": client_ids,
                "config": {"rounds": opts["rounds"], "minClients": len(client_ids), "clientFraction": 1.0,
                           "localEpochs": epochs, "batchSize": 32, "learningRate": 0.2,
                           "inputDim": 64, "numClasses": 10, "hiddenDim": 64}}
        response = api.post("/fl/executions", json=body)
        if response.status_code != 202:
            raise CommandError(f"could not start the execution: {response.text}")
        execution = response.json()["data"]
        sizes = "/".join(str(len(load_test_set(path)[1])) for path in paths)
        self.stdout.write(f"execution {execution['id']} accepted ({opts['algorithm']}, {opts['rounds']} rounds of "
                          f"{epochs} local epochs; {sizes} digits, labels split Dirichlet({opts['alpha']}))")
        return execution

    def _start_simulation(self, api: httpx.Client, opts) -> tuple[dict, list, object]:
        """The digits minus the held-out test set, uploaded as a dataset and split among N virtual clients."""
        (train_path,), test_path = write_digits_partitions(settings.VAR_DIR / "demo-simulation", 1)
        upload = api.post("/fl/datasets", params={"name": "digits-train.npz"}, content=train_path.read_bytes(),
                          headers={"Content-Type": "application/octet-stream"})
        if upload.status_code != 201:
            raise CommandError(f"could not upload the dataset: {upload.text}")
        count = opts["simulate"]
        body = {"modelType": "classification", "algorithm": opts["algorithm"], "runtime": "simulation",
                "config": {"rounds": opts["rounds"], "minClients": count, "numSupernodes": count,
                           "dataset": upload.json()["data"]["id"], "localEpochs": opts["local_epochs"] or 5,
                           "batchSize": 8, "learningRate": 0.2,
                           "partitioning": {"method": "dirichlet", "alpha": opts["alpha"], "seed": 7}}}
        response = api.post("/fl/executions", json=body)
        if response.status_code != 202:
            raise CommandError(f"could not start the simulation: {response.text}")
        execution = response.json()["data"]
        sizes = execution["dataPartitioning"]
        self.stdout.write(f"simulation {execution['id']} accepted: {count} virtual clients on a local Ray, "
                          f"{sizes['dataset']['samples']} digits split Dirichlet({opts['alpha']}), "
                          f"{sizes['minSize']}-{sizes['maxSize']} each ({opts['algorithm']}, {opts['rounds']} rounds)")
        return execution, [train_path], test_path

    def _follow(self, url: str, key: str, api: httpx.Client, execution_id: str) -> dict:
        started = time.monotonic()
        params = {"systems": "fl", "types": "round_completed,execution.completed,execution.failed,execution.stopped"}
        with httpx.stream("GET", f"{url}/api/v1/integration/events/stream", params=params,
                          headers={"X-API-Key": key}, timeout=httpx.Timeout(30, read=600)) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                data = event["data"]
                if data.get("executionId") != execution_id:
                    continue
                if event["event"] == "round.completed":
                    m = data["metrics"].get("evaluate", {})
                    self.stdout.write(f"round {data['round']:>3}  clients {data['participatingClients']}  "
                                      f"loss {m.get('eval-loss', float('nan')):.4f}  "
                                      f"accuracy {m.get('eval-accuracy', float('nan')):.4f}  "
                                      f"({time.monotonic() - started:.1f}s)")
                elif event["event"] in ("execution.completed", "execution.failed", "execution.stopped"):
                    break
        return api.get(f"/fl/executions/{execution_id}").json()["data"]

    def _report(self, api: httpx.Client, url: str, execution: dict, data_paths, test_path):
        if execution["status"] != "completed":
            raise CommandError(f"execution ended {execution['status']}: {execution['error']}")
        import torch

        from flcore.runtime.model import build_model
        from flcore.services.training_plan import model_spec_of, run_config_from

        raw = api.get(f"/fl/aggregation/{execution['id']}/model", params={"format": "pytorch"})
        model = build_model(model_spec_of(execution["config"]))
        model.load_state_dict(torch.load(io.BytesIO(raw.content), weights_only=True))
        x, y = load_test_set(test_path)
        with torch.no_grad():
            predicted = model(torch.as_tensor(x)).argmax(1).numpy()
        accuracy = float(np.mean(predicted == y))
        self.stdout.write(self.style.SUCCESS(
            f"final accuracy on {len(y)} held-out digits: {accuracy:.4f} after {execution['currentRound']} rounds"))
        central = train_centrally(data_paths, test_path, run_config_from(execution["config"], execution["algorithm"]),
                                  execution["currentRound"])
        self.stdout.write(f"the same model trained centrally on the same {central.rows} digits ({central.epochs} "
                          f"epochs, the federated budget): {central.accuracy:.4f}; federated reaches "
                          f"{accuracy / central.accuracy:.1%} of it")
        base = f"{url}/api/v1/fl/aggregation/{execution['id']}/model"
        self.stdout.write("download the model (send an X-API-Key: `python manage.py createadmin` prints one; "
                          "run with --keep-running to keep the platform up):")
        for fmt in ("pytorch", "onnx", "h5", "safetensors", "npz"):
            self.stdout.write(f"  {base}?format={fmt}")
        return model

    def _tour(self, api: httpx.Client, execution: dict, model, test_path) -> None:
        import torch

        aggregated = api.get(f"/fl/aggregation/{execution['id']}/status").json()["data"]["lastAggregation"]
        try:
            tour.regions_ensure(api, settings.VAR_DIR / "demo" / "regions")
            done = tour.model_promote_and_replicate(api, aggregated["modelId"], version=f"fl-{execution['id'][:8]}")
            replicated = done["replication"]["results"][0]
            self.stdout.write(
                f"model registry: {tour.MODEL}:{done['version']['version']} (sha256 {done['version']['sha256'][:12]}…) "
                f"in {tour.HOME}, replicated to {replicated['region']}: {replicated['bytes_transferred']} bytes, "
                f"digest verified")
            x, _ = load_test_set(test_path)
            def predict() -> dict:
                with torch.no_grad():
                    return tour.predict_compare(api, x[:8], lambda rows: model(torch.as_tensor(rows)).numpy())

            answer = predict()
            classes = np.asarray(answer["predictions"]).argmax(1).tolist()
            self.stdout.write(f"predict: region {answer['region']} answered {classes} for 8 held-out digits "
                              f"in {answer['latency_ms']:.1f} ms, equal to the model run here")
            moved = tour.failover_and_back(api, predict)
            self.stdout.write(f"failover {tour.HOME} -> {tour.REPLICA}: region {moved['answer']['region']} answered "
                              f"the same predictions; failover rolled back")
            runtime = tour.demo_shell_register(api)
            remotes = ", ".join(sorted(runtime.get("remotes", {}))) if isinstance(runtime.get("remotes"), dict) \
                else runtime.get("remotes")
            self.stdout.write(f"module federation: shell digits_shell registered with remote(s) {remotes}")
        except tour.TourError as exc:
            raise CommandError(f"tour: {exc}") from exc
