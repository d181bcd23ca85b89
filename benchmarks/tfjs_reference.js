// Reference outputs of a TFJS graph model from the official TensorFlow.js runtime (pure-JS CPU backend).
// usage: node benchmarks/tfjs_reference.js MODEL_JSON INPUT_F32 N H W OUTPUT_NODE OUT_F32
// INPUT_F32: raw little-endian float32 NHWC batch; OUT_F32 receives the named output node, float32.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelJson, inputFile, n, h, w, outputNode, outFile] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelJson), p)));
  }
  const data = Buffer.concat(buffers);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const graph = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs,
    weightData, format: model.format, generatedBy: model.generatedBy, convertedBy: model.convertedBy,
    signature: model.signature }));
  const raw = fs.readFileSync(inputFile);
  const values = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const x = tf.tensor4d(values, [Number(n), Number(h), Number(w), 3]);
  const y = await graph.executeAsync(x, outputNode);
  const out = await y.data();
  fs.writeFileSync(outFile, Buffer.from(new Float32Array(out).buffer));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
