// The Jinja chat_template written into preset tokenizer_config.json files: the cmd3 format for plain
// conversations (developer preamble from a first system message, user/assistant/system turns,
// contextual safety). Tools, documents and the other request features are rendered by Tandem's cmd3
// renderer; this template exists so that the folder also works in Hugging Face tooling.
import * as T from '../render/cmd3-text.js';

function literal(s: string): string {
  // A Jinja string expression: keeps exact bytes (newlines included) away from trim_blocks.
  return `{{ ${JSON.stringify(s)} }}`;
}

export function cmd3ChatTemplate(): string {
  const systemTurn = `# System Preamble\n${T.SAFETY_CONTEXTUAL}\n\n${T.CUTOFF_LINE}\n\n${T.LANGUAGES_LINE}\n\n${T.DEFAULT_PREAMBLE}`;
  return [
    '{{ bos_token }}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>',
    literal(systemTurn),
    "{% if messages and messages[0]['role'] == 'system' %}",
    literal(`\n\n${T.DEVELOPER_PREAMBLE_HEADER}\n`),
    "{{ messages[0]['content'] }}{% endif %}<|END_OF_TURN_TOKEN|>",
    '{% for message in messages %}',
    "{% if message['role'] == 'system' and not loop.first %}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{{ message['content'] }}<|END_OF_TURN_TOKEN|>",
    "{% elif message['role'] == 'user' %}<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{{ message['content'] }}<|END_OF_TURN_TOKEN|>",
    "{% elif message['role'] == 'assistant' %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>{{ message['content'] }}<|END_RESPONSE|><|END_OF_TURN_TOKEN|>",
    '{% endif %}{% endfor %}',
    '{% if add_generation_prompt %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}',
  ].join('');
}
