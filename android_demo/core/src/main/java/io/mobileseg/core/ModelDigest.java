package io.mobileseg.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Checks that the model bytes are the file the contract was exported with: their SHA-256 against
 * the contract's {@code sha256} entry for its model file. {@link Contract#checkModel} compares
 * tensor names and shapes only, which another export of the same network (other weights, another
 * quantisation) passes as well; that model would run and silently compute different masks.
 * The Python exporter checks the same digest before it copies a model into the app
 * ({@code check_model_file} in {@code mobileseg/export/android.py}).
 */
public final class ModelDigest {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private ModelDigest() {
    }

    /** A ContractException unless {@code model}, read to its end (not closed), holds the bytes the contract records. */
    public static void check(Contract contract, InputStream model) throws IOException, ContractException {
        contract.checkDigest(of(model));
    }

    /**
     * A ContractException unless {@code model}'s bytes from its position to its limit are the ones the contract records.
     * The buffer itself is left as it was, so the app checks the very mapping it then hands to the interpreter.
     */
    public static void check(Contract contract, ByteBuffer model) throws ContractException {
        contract.checkDigest(of(model));
    }

    /** The SHA-256 of what {@code in} holds from here to its end, as 64 lower-case hex digits; {@code in} is not closed. */
    public static String of(InputStream in) throws IOException {
        MessageDigest digest = sha256();
        byte[] block = new byte[1 << 16];
        for (int n = in.read(block); n != -1; n = in.read(block)) {
            digest.update(block, 0, n);
        }
        return hex(digest.digest());
    }

    /** The SHA-256 of {@code bytes} from its position to its limit; its position does not move (a duplicate is read). */
    public static String of(ByteBuffer bytes) {
        MessageDigest digest = sha256();
        digest.update(bytes.duplicate());
        return hex(digest.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException ex) {
            // Every Java platform, Android included, must provide SHA-256.
            throw new IllegalStateException("this Java runtime has no SHA-256", ex);
        }
    }

    private static String hex(byte[] bytes) {
        char[] out = new char[2 * bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[2 * i] = HEX[(bytes[i] >> 4) & 0xf];
            out[2 * i + 1] = HEX[bytes[i] & 0xf];
        }
        return new String(out);
    }
}
