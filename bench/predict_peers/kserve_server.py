"""KServe's Python ModelServer serving ONNX graphs with onnxruntime: the peer of bench/predict_peers.

Runs in the bench's own virtualenv (kserve 0.21.0, onnxruntime 1.31.1), never in fedplane's:

    var/bench-venvs/kserve-0.21.0/bin/python bench/predict_peers/kserve_server.py \
        --http_port 8080 --grpc_port 8081 --model digits=/tmp/x/digits.onnx --model wide=/tmp/x/wide.onnx

A custom `kserve.Model` as KServe's docs write one: `load()` opens the session, a synchronous
`predict()` takes the InferRequest's first input as NumPy and returns an InferResponse that keeps
the request's output choices (JSON data, or the binary tensor extension when the request asks for it).
Everything else is ModelServer's default (one uvicorn worker, gRPC server on), except the two
per-request log lines (uvicorn's access log and KServe's latency trace), which are turned off:
fedplane writes none.
"""
from __future__ import annotations

import argparse
import logging

import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.utils import generate_uuid


class OnnxModel(Model):
    def __init__(self, name: str, path: str):
        super().__init__(name)
        self.path = path
        self.session: ort.InferenceSession | None = None
        self.load()

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # as fedplane's ONNX runner
        self.session = ort.InferenceSession(self.path, sess_options=options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy()
        y = self.session.run(None, {self.input_name: x})[0]
        output = InferOutput(name="output", shape=list(y.shape), datatype="FP32", data=y)
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name, infer_outputs=[output],
                             requested_outputs=payload.request_outputs,
                             use_binary_outputs=payload.use_binary_outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", action="append", required=True, help="name=path.onnx")
    args, _ = parser.parse_known_args()  # ModelServer reads --http_port, --grpc_port, ... from argv itself
    models = [OnnxModel(*spec.split("=", 1)) for spec in args.model]
    server = ModelServer(enable_latency_logging=False)
    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start(models)


if __name__ == "__main__":
    main()
