// The subset of TensorFlow's event.proto / summary.proto that TensorBoard needs for scalars and images,
// with the upstream field numbers (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto).
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto3";
package tensorboard;
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
  }
}
message Summary {
  message Image {
    int32 height = 1;
    int32 width = 2;
    int32 colorspace = 3;
    bytes encoded_image_string = 4;
  }
  message Value {
    string node_name = 7;
    string tag = 1;
    oneof value {
      float simple_value = 2;
      bytes obsolete_old_style_histogram = 3;
      Image image = 4;
    }
  }
  repeated Value value = 1;
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;
export const EventMessage = root.lookupType('tensorboard.Event');

export interface ScalarValue {
  tag: string;
  simple_value: number;
}

/** An encoded (PNG) image; colorspace 1 = grayscale, 3 = RGB, 4 = RGBA (summary.proto). */
export interface ImageValue {
  tag: string;
  image: { height: number; width: number; colorspace: number; encoded_image_string: Uint8Array };
}

export interface EventFields {
  wall_time: number;
  step?: number;
  file_version?: string;
  summary?: { value: (ScalarValue | ImageValue)[] };
}

export function encodeEvent(event: EventFields): Uint8Array {
  return EventMessage.encode(EventMessage.fromObject(event)).finish();
}

export function decodeEvent(bytes: Uint8Array): EventFields {
  return EventMessage.toObject(EventMessage.decode(bytes), { longs: Number, defaults: false }) as EventFields;
}
