package io.mobileseg.core;

import java.nio.ByteBuffer;
import java.util.Map;

/**
 * What the tracker needs from an interpreter: run one entry point ({@code init} or {@code step})
 * reading float32 inputs and writing float32 outputs, each a direct native-order buffer keyed by
 * its contract name. The app implements it over LiteRT's signature runners; tests over plain Java.
 */
public interface Runner {
    void run(String entry, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) throws Exception;
}
