package io.mobileseg.core;

import java.util.Map;
import java.util.Set;

/** The interpreter's own view of the model file: its signatures and their tensors' shapes by name. */
public interface ModelSignatures {
    Set<String> signatures();

    Map<String, int[]> inputs(String signature);

    Map<String, int[]> outputs(String signature);
}
