"""An MLServer custom runtime serving an ONNX graph with onnxruntime: the peer of bench/predict_peers.

Runs in the bench's own virtualenv (mlserver 1.7.1, onnxruntime 1.31.1), never in fedplane's; the
bench writes the model repository (settings.json, one model-settings.json per model naming
`mlserver_runtime.OnnxRuntime` and the .onnx file as `parameters.uri`) and starts `mlserver start`
with this folder on PYTHONPATH.

As MLServer's docs write a custom runtime: `load()` opens the session, `predict()` decodes the first
input with NumpyCodec and encodes the output with it. MLServer 1.7.1's REST server reads only JSON
tensors (no binary tensor extension over REST; it has raw tensors over gRPC only).
"""
from __future__ import annotations

import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # as fedplane's ONNX runner
        self.session = ort.InferenceSession(self.settings.parameters.uri, sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        y = self.session.run(None, {self.input_name: x})[0]
        return InferenceResponse(id=payload.id, model_name=self.name, model_version=self.version,
                                 outputs=[NumpyCodec.encode_output("output", y)])
