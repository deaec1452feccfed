/** Where the model shipped with the package lives (trained by `alexnet train --arch mini`). */
import { fileURLToPath } from 'node:url';

export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../fixtures/models/fashion-mnist-mini.safetensors', import.meta.url));
