package io.mobileseg.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * Command-line access to the core module for the cross-language tests in
 * {@code tests/integration/test_android.py}, which run it with the JDK and compare with Python:
 *
 * <pre>
 *   contract FILE                       -> "ok HxW MODEL state=a,b" (exit 0) or "rejected: MESSAGE" (exit 3)
 *   model CONTRACT MODEL                -> "ok sha256 HEX" (exit 0: MODEL's bytes are the ones CONTRACT records) or "rejected: MESSAGE" (exit 3)
 *   frame RGBA W H ROW_STRIDE PIXEL_STRIDE ROTATION OUT_H OUT_W OUT [LEFT TOP RIGHT BOTTOM]
 *                                       -> OUT: float32 little-endian [3, OUT_H, OUT_W] (of the crop rectangle, when given)
 *   graph MODEL                         -> per signature: "NAME ops N rank5 K gpu_at_most P partitions C"
 *   box X0 Y0 X1 Y1 H W OUT             -> OUT: float32 little-endian [H, W]
 * </pre>
 */
public final class Probe {
    private Probe() {
    }

    public static void main(String[] args) throws IOException {
        switch (args.length == 0 ? "" : args[0]) {
            case "contract":
                try {
                    String text = new String(Files.readAllBytes(Paths.get(args[1])), StandardCharsets.UTF_8);
                    Contract contract = Contract.parse(text, args[1]);
                    System.out.println("ok " + contract.height() + "x" + contract.width() + " " + contract.modelFile()
                            + " state=" + String.join(",", contract.stateNames()));
                } catch (ContractException ex) {
                    System.out.println("rejected: " + ex.getMessage());
                    System.exit(3);
                }
                break;
            case "model":
                try (InputStream model = Files.newInputStream(Paths.get(args[2]))) {
                    String text = new String(Files.readAllBytes(Paths.get(args[1])), StandardCharsets.UTF_8);
                    Contract contract = Contract.parse(text, args[1]);
                    ModelDigest.check(contract, model);
                    System.out.println("ok sha256 " + contract.sha256());
                } catch (ContractException ex) {
                    System.out.println("rejected: " + ex.getMessage());
                    System.exit(3);
                }
                break;
            case "frame": {
                byte[] rgba = Files.readAllBytes(Paths.get(args[1]));
                int outH = Integer.parseInt(args[7]);
                int outW = Integer.parseInt(args[8]);
                int w = Integer.parseInt(args[2]);
                int h = Integer.parseInt(args[3]);
                int rotation = Integer.parseInt(args[6]);
                FrameConverter converter = args.length > 10
                        ? new FrameConverter(w, h, Integer.parseInt(args[10]), Integer.parseInt(args[11]), Integer.parseInt(args[12]),
                                Integer.parseInt(args[13]), rotation, outH, outW)
                        : new FrameConverter(w, h, rotation, outH, outW);
                ByteBuffer out = ByteBuffer.allocate(3 * outH * outW * 4).order(ByteOrder.LITTLE_ENDIAN);
                converter.convert(ByteBuffer.wrap(rgba), Integer.parseInt(args[4]), Integer.parseInt(args[5]), out);
                Files.write(Paths.get(args[9]), out.array());
                System.out.println("crop " + converter.cropY() + " " + converter.cropX() + " " + converter.cropHeight() + " " + converter.cropWidth());
                break;
            }
            case "graph": {
                ByteBuffer model = ByteBuffer.wrap(Files.readAllBytes(Paths.get(args[1])));
                for (java.util.Map.Entry<String, TfliteGraph> signature : TfliteGraph.read(model).entrySet()) {
                    GpuPlan plan = GpuPlan.of(signature.getValue());
                    System.out.println(signature.getKey() + " ops " + plan.operators() + " rank5 " + plan.highRank() + " gpu_at_most "
                            + plan.delegatedAtMost() + " partitions " + plan.candidatePartitions());
                }
                break;
            }
            case "box": {
                int h = Integer.parseInt(args[5]);
                int w = Integer.parseInt(args[6]);
                float[] box = {Float.parseFloat(args[1]), Float.parseFloat(args[2]), Float.parseFloat(args[3]), Float.parseFloat(args[4])};
                ByteBuffer out = ByteBuffer.allocate(h * w * 4).order(ByteOrder.LITTLE_ENDIAN);
                System.out.println("set " + BoxMask.fill(box, h, w, out));
                Files.write(Paths.get(args[7]), out.array());
                break;
            }
            default:
                System.err.println("usage: Probe contract FILE | model CONTRACT MODEL | frame RGBA W H ROW_STRIDE PIXEL_STRIDE ROTATION OUT_H OUT_W OUT [LEFT TOP RIGHT BOTTOM] | graph MODEL | box X0 Y0 X1 Y1 H W OUT");
                System.exit(2);
        }
    }
}
