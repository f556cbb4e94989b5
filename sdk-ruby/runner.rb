# frozen_string_literal: true

# The child the broker starts for Ruby steps: `ruby {sdk}/runner.rb` (SPEC §9). The
# core (lib/motiad.rb) and every optional part; step files may `require 'motiad'`.

$LOAD_PATH.unshift(File.join(__dir__, 'lib'))
require 'motiad'
require 'motiad/checks'
require 'motiad/streams'
require 'motiad/record'

Motiad.main
