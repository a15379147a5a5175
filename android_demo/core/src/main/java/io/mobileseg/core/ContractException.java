package io.mobileseg.core;

/** A contract the app cannot use: the message says what was found, what the app reads and what to do. */
public final class ContractException extends Exception {
    private static final long serialVersionUID = 1L;

    public ContractException(String message) {
        super(message);
    }
}
