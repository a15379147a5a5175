// The state loop of the exported student over any backend (a port of the app's Tracker.java):
//
//   state = init(frame, mask)          // the frame the user drew a box on, and the box mask
//   prob, state = step(frame, state)   // every later frame; the state fed back by the contract's names
//
// The step entry of each frame is the schedule's steps[int(phase)], the phase read from the state tensor the schedule
// names (a contract without one: always "step"). Init output S fills state input S (feedback.init); step output new_S
// refills it (feedback.step): the names come from the contract, none is written here.

import {FRAME, MASK, PROB, javaString} from "./contract.js";

export class Tracker {
  constructor(contract, runner) {
    this.contract = contract;
    this.runner = runner;
    this.state = null; // state input name -> the runtime's tensor; null before init
    this.frames = 0;
  }

  /** Starts a video: the memory is built from `frame` ([1, 3, H, W]) and `mask` ([1, 1, H, W]), Float32Arrays. */
  async init(frame, mask) {
    this.reset();
    const out = await this.runner.run("init", {[FRAME]: frame, [MASK]: mask});
    const state = {};
    for (const name of this.contract.stateNames()) {
      state[name] = out[this.contract.initOutputFor(name)];
    }
    const kept = new Set(Object.values(state));
    for (const handle of Object.values(out)) {
      if (!kept.has(handle)) this.runner.release(handle);
    }
    this.state = state;
    this.frames = 1;
  }

  /** Segments `frame` with the memory; returns {prob: Float32Array [1, 1, H, W], entry}. The memory moves on by one frame. */
  async step(frame) {
    if (this.state === null) {
      throw new Error("step() before init(): draw a box first (init starts every video).");
    }
    const entry = await this.nextStep();
    const out = await this.runner.run(entry, {[FRAME]: frame, ...this.state});
    const prob = await this.runner.read(out[PROB]);
    const next = {};
    for (const name of this.contract.stateNames()) {
      next[name] = out[this.contract.stepOutputFor(name)];
    }
    this.runner.release(out[PROB]);
    for (const handle of Object.values(this.state)) this.runner.release(handle);
    this.state = next;
    this.frames++;
    return {prob, entry};
  }

  /** The step entry the schedule picks for the next frame from the phase in the current state. */
  async nextStep() {
    const steps = this.contract.steps();
    const phase = this.contract.phaseName();
    if (phase === null) return steps[0];
    const value = Math.fround((await this.runner.read(this.state[phase]))[0]);
    const index = Math.trunc(value);
    if (index !== value || index < 0 || index >= steps.length) {
      throw new Error("the state's " + phase + " is " + javaString(value) + ", but " + this.contract.source + " schedules "
        + steps.length + " step entries " + javaString(steps) + ", so it must be a whole number from 0 to " + (steps.length - 1)
        + ". The model file and its contract come from different exports: export again, then start the video with init.");
    }
    return steps[index];
  }

  /** Forgets the object; the next video starts with init. */
  reset() {
    if (this.state !== null) {
      for (const handle of Object.values(this.state)) this.runner.release(handle);
    }
    this.state = null;
    this.frames = 0;
  }

  started() {
    return this.state !== null;
  }
}
