// The studio's drum kit: five voices synthesised with Tone.js (vendored), one per jaki part.
// Kick and tom are pitched membranes (a sine whose pitch falls fast), the snare is a short membrane under
// high-passed noise, the cymbals are Tone's metal synths (inharmonic FM) through a high-pass: the closed hi-hat
// chokes the open one, as on a real hi-hat stand. The open part sounds as an open hi-hat or a crash, as in the MIDI.
"use strict";

window.JakiDrums = (() => {
  const VOICES = {
    kick: { note: "G1", volume: 0, synth: () => new Tone.MembraneSynth({
      pitchDecay: 0.05, octaves: 4, oscillator: { type: "sine" },
      envelope: { attack: 0.001, decay: 0.5, sustain: 0, release: 0.1 },
    }) },
    snareBody: { note: "E3", volume: 1, synth: () => new Tone.MembraneSynth({
      pitchDecay: 0.02, octaves: 1.5, oscillator: { type: "triangle" },
      envelope: { attack: 0.001, decay: 0.11, sustain: 0, release: 0.05 },
    }) },
    snareNoise: { highpass: 1200, volume: 2, synth: () => new Tone.NoiseSynth({
      noise: { type: "pink" }, envelope: { attack: 0.001, decay: 0.18, sustain: 0, release: 0.05 },
    }) },
    closed: { note: 420, highpass: 7000, volume: -14, synth: () => new Tone.MetalSynth({
      harmonicity: 5.1, modulationIndex: 32, resonance: 5000, octaves: 1.5,
      envelope: { attack: 0.001, decay: 0.055, sustain: 0, release: 0.02 },
    }) },
    hihat: { note: 420, highpass: 6500, volume: -15, synth: () => new Tone.MetalSynth({
      harmonicity: 5.1, modulationIndex: 32, resonance: 5000, octaves: 1.5,
      envelope: { attack: 0.001, decay: 0.8, sustain: 0, release: 0.12 },
    }) },
    crash: { note: 300, highpass: 4000, volume: -16, synth: () => new Tone.MetalSynth({
      harmonicity: 8.5, modulationIndex: 40, resonance: 3800, octaves: 2.2,
      envelope: { attack: 0.001, decay: 3, sustain: 0, release: 0.6 },
    }) },
    toms: { note: "G2", volume: -2, synth: () => new Tone.MembraneSynth({
      pitchDecay: 0.07, octaves: 2.2, oscillator: { type: "sine" },
      envelope: { attack: 0.001, decay: 0.38, sustain: 0, release: 0.1 },
    }) },
  };
  const PART_VOICES = { kick: ["kick"], snare: ["snareBody", "snareNoise"], closed: ["closed"], toms: ["toms"] };

  // The kit: trigger(part, time, velocity 0..1, openAs "hihat" | "crash") plays one hit at an AudioContext time.
  function createKit() {
    const limiter = new Tone.Limiter(-1).toDestination(); // several parts on one step never clip
    const compressor = new Tone.Compressor({ threshold: -12, ratio: 3, attack: 0.003, release: 0.12 }).connect(limiter);
    const output = new Tone.Volume(-6).connect(compressor);
    const voices = {};
    for (const [name, voice] of Object.entries(VOICES)) {
      const synth = voice.synth();
      const volume = new Tone.Volume(voice.volume).connect(output);
      if (voice.highpass) {
        synth.connect(new Tone.Filter(voice.highpass, "highpass").connect(volume));
      } else {
        synth.connect(volume);
      }
      voices[name] = { synth, note: voice.note };
    }
    // Drums are struck, not held: each envelope decays to silence on its own (sustain 0), so a cymbal rings out.
    function strike(name, time, velocity) {
      const { synth, note } = voices[name];
      if (note === undefined) {
        synth.triggerAttack(time, velocity);
      } else {
        synth.triggerAttack(note, time, velocity);
      }
    }
    return {
      trigger(part, time, velocity, openAs) {
        if (part === "open") {
          strike(openAs === "crash" ? "crash" : "hihat", time, velocity);
          return;
        }
        if (part === "closed") {
          voices.hihat.synth.triggerRelease(time); // the pedal closes the open hi-hat
        }
        for (const name of PART_VOICES[part]) {
          strike(name, time, velocity);
        }
      },
    };
  }

  return { createKit };
})();
