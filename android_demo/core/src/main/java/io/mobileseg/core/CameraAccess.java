package io.mobileseg.core;

/**
 * The camera permission, as the activity goes through its life: what to do when it becomes
 * visible ({@link #onStart}) and when the permission dialog answers ({@link #answered}).
 *
 * <ul>
 *   <li>The permission is checked every time the activity starts, not only when it is created:
 *       a user who denied it, allowed it in Settings and came back finds the camera running
 *       (coming back resumes the same activity; it is not created again).</li>
 *   <li>The dialog is shown once by itself; after a denial the app says how to allow the camera
 *       rather than asking again on every start (Android stops showing the dialog after a second
 *       denial anyway, and a loop of instant denials would follow).</li>
 *   <li>A request in flight is part of the saved state ({@link #saved}, {@link #restore}): when
 *       the phone is turned while the dialog is open, the new activity waits for that dialog's
 *       answer instead of asking again, which could deliver a spurious denial.</li>
 *   <li>A grant clears an earlier denial.</li>
 * </ul>
 */
public final class CameraAccess {
    /** What the activity should do. */
    public enum Action {
        /** Nothing (a dialog is open). */
        NONE,
        /** Show the permission dialog. */
        ASK,
        /** The permission is granted: start the camera, unless it runs already. */
        START,
        /** Denied: say so, and how to allow it in Settings. */
        DENIED
    }

    private boolean asked;
    private boolean asking;
    private boolean denied;

    /** The activity starts (or comes back); {@code granted}: whether the app holds the permission now. */
    public Action onStart(boolean granted) {
        if (granted) {
            denied = false;
            return Action.START;
        }
        if (asking) {
            return Action.NONE;
        }
        if (!asked) {
            asked = true;
            asking = true;
            return Action.ASK;
        }
        denied = true;
        return Action.DENIED;
    }

    /** The dialog's answer; {@code granted} should also be true when the app holds the permission by now. */
    public Action answered(boolean granted) {
        asking = false;
        asked = true;
        if (granted) {
            denied = false;
            return Action.START;
        }
        denied = true;
        return Action.DENIED;
    }

    /** Whether the last word was a denial (the status line then says how to allow the camera). */
    public boolean denied() {
        return denied;
    }

    /** What to keep across the activity's recreation (onSaveInstanceState). */
    public int saved() {
        return (asked ? 1 : 0) | (asking ? 2 : 0) | (denied ? 4 : 0);
    }

    /** The state {@link #saved} kept; 0 for a fresh start. */
    public static CameraAccess restore(int saved) {
        CameraAccess access = new CameraAccess();
        access.asked = (saved & 1) != 0;
        access.asking = (saved & 2) != 0;
        access.denied = (saved & 4) != 0;
        return access;
    }
}
